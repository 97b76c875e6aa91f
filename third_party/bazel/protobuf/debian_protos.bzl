"""Repository rules exposing protoc and .proto files installed by Debian packages.

The files are symlinked from the build root fs, never copied into the project."""

def _link_tree(rctx, src, dst):
    if not rctx.path(src).exists:
        fail("%s not found: is the build root fs complete? (tools/setup/rootfs.sh)" % src)
    rctx.symlink(src, dst)

def _system_protobuf_impl(rctx):
    protoc = rctx.which("protoc")
    if not protoc:
        fail("protoc not found on PATH (Debian protobuf-compiler)")
    rctx.symlink(protoc, "protoc.bin")
    _link_tree(rctx, rctx.attr.include + "/google/protobuf", "google/protobuf")
    rctx.file("BUILD.bazel", rctx.read(rctx.attr.build_file))

system_protobuf = repository_rule(
    implementation = _system_protobuf_impl,
    attrs = {
        "include": attr.string(default = "/usr/include"),
        "build_file": attr.label(mandatory = True),
    },
    environ = ["PATH"],
    local = True,
)

def _system_googleapis_impl(rctx):
    _link_tree(rctx, rctx.attr.root + "/google/api", "google/api")
    rctx.file("BUILD.bazel", "")
    rctx.file("google/api/BUILD.bazel", rctx.read(rctx.attr.build_file))

system_googleapis = repository_rule(
    implementation = _system_googleapis_impl,
    attrs = {
        "root": attr.string(default = "/usr/lib/python3/dist-packages"),
        "build_file": attr.label(mandatory = True),
    },
    local = True,
)
