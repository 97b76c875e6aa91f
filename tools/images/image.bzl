"""Container images and tarballs for Hindsight's services, built by Bazel offline.

rules_oci cannot be fetched on offline machines, so `oci_image_tarball` assembles an
image from layer tarballs (pkg_tar outputs) with //tools/ocibuild, a small Go tool on
go-containerregistry. The result is a docker-archive tarball (`docker load -i`), with
every timestamp fixed: the same inputs give byte-identical output.

`go_service_image` is what images/BUILD.bazel uses for each service.
"""

load("@rules_pkg//pkg:tar.bzl", "pkg_tar")

# The non-root user every service runs as (declared in //tools/images:base_layer).
HINDSIGHT_UID = "65532"

def _oci_image_tarball_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = ctx.actions.args()
    args.add("--out", out)
    args.add("--tag", ctx.attr.repo_tag or "bazel/%s:latest" % ctx.label.name)
    if ctx.file.base:
        args.add("--base", ctx.file.base)
    args.add_all(ctx.files.layers, before_each = "--layer")
    args.add_all(ctx.attr.entrypoint, before_each = "--entrypoint")
    args.add_all(ctx.attr.cmd, before_each = "--cmd")
    args.add_all(["%s=%s" % kv for kv in ctx.attr.env.items()], before_each = "--env")
    args.add_all(["%s=%s" % kv for kv in ctx.attr.labels.items()], before_each = "--label")
    args.add_all(ctx.attr.exposed_ports, before_each = "--expose")
    if ctx.attr.workdir:
        args.add("--workdir", ctx.attr.workdir)
    if ctx.attr.user:
        args.add("--user", ctx.attr.user)
    ctx.actions.run(
        executable = ctx.executable._ocibuild,
        arguments = [args],
        inputs = ctx.files.layers + ([ctx.file.base] if ctx.file.base else []),
        outputs = [out],
        mnemonic = "OciImage",
        progress_message = "Assembling image %{label}",
    )
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles(files = [out]))]

oci_image_tarball = rule(
    implementation = _oci_image_tarball_impl,
    doc = "A docker-archive image tarball (`docker load -i`) made from layer tarballs.",
    attrs = {
        "base": attr.label(allow_single_file = [".tar"], doc = "Base image (docker-archive tarball); default: none (FROM scratch)."),
        "layers": attr.label_list(allow_files = [".tar", ".tar.gz", ".tgz"], doc = "Layer tarballs, bottom first."),
        "repo_tag": attr.string(doc = "repository:tag recorded in the tarball; default bazel/<name>:latest."),
        "entrypoint": attr.string_list(),
        "cmd": attr.string_list(),
        "env": attr.string_dict(),
        "labels": attr.string_dict(),
        "exposed_ports": attr.string_list(doc = "e.g. [\"8080/tcp\"]"),
        "workdir": attr.string(),
        "user": attr.string(),
        "_ocibuild": attr.label(default = "//tools/ocibuild", executable = True, cfg = "exec"),
    },
)

def go_service_image(name, binary, repo_tag = None, exposed_ports = [], env = {}, labels = {}, visibility = None, **kwargs):
    """An image and a plain tarball for one Go service.

    Creates:
      <name>_image: <name>_image.tar, a docker-archive tarball tagged
          hindsight/<name>:latest (or repo_tag), FROM scratch; entrypoint
          /usr/local/bin/<name> (beside the hindsight CLI, a layer shared by
          every image: container health checks run `hindsight health`), user 65532 (hindsight), working directory
          /data (owned by that user), HOME=/tmp, PATH set.
      <name>: <name>.tar, the same files as one plain tarball (a root file system to
          unpack into an empty directory, for deployments without Docker).
      <name>_layer: the layer holding the binary.

    Args:
      name: the service name; also the binary's name inside the image.
      binary: a static (pure Go) go_binary.
      repo_tag: repository:tag recorded in the image tarball.
      exposed_ports: ports the image declares, e.g. ["8080/tcp"].
      env: extra environment variables.
      labels: extra image labels.
      visibility: visibility of the outputs.
      **kwargs: passed to every target (tags, testonly, ...).
    """
    pkg_tar(
        name = name + "_layer",
        files = {binary: "usr/local/bin/" + name},
        mode = "0755",
        visibility = ["//visibility:private"],
        **kwargs
    )
    layers = ["//tools/images:base_layer", "//tools/images:cli_layer", ":" + name + "_layer"]
    all_env = {"HOME": "/tmp", "PATH": "/usr/local/bin:/usr/bin:/bin"}
    all_env.update(env)
    all_labels = {"org.opencontainers.image.title": name}
    all_labels.update(labels)
    oci_image_tarball(
        name = name + "_image",
        layers = layers,
        repo_tag = repo_tag or "hindsight/%s:latest" % name,
        entrypoint = ["/usr/local/bin/" + name],
        user = HINDSIGHT_UID + ":" + HINDSIGHT_UID,
        # Relative paths (e.g. a default data dir) land in the volume-ready /data.
        workdir = "/data",
        env = all_env,
        exposed_ports = exposed_ports,
        labels = all_labels,
        visibility = visibility,
        **kwargs
    )
    pkg_tar(
        name = name,
        deps = layers,
        visibility = visibility,
        **kwargs
    )
