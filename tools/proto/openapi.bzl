"""openapi_spec: one merged OpenAPI v2 document for a set of proto_library targets.

Runs protoc with protoc-gen-openapiv2 (built from the grpc-gateway Go module that
go.mod pins) over the protos' descriptor sets, so imports need no include paths, then
finishspec (title, the module's version, security, closed objects, the string forms of
the proto JSON mapping)."""

load("@rules_proto//proto:defs.bzl", "ProtoInfo")

def _import_path(src, info):
    root = info.proto_source_root
    if root == ".":
        return src.short_path
    path = src.path
    if path.startswith(root + "/"):
        return path[len(root) + 1:]
    return src.short_path

def _openapi_spec_impl(ctx):
    raw = ctx.actions.declare_file(ctx.attr.merge_name + ".raw/" + ctx.attr.merge_name + ".swagger.json")
    out = ctx.actions.declare_file(ctx.attr.merge_name + ".swagger.json")
    descriptors = depset(transitive = [p[ProtoInfo].transitive_descriptor_sets for p in ctx.attr.protos])
    files = []
    for p in ctx.attr.protos:
        info = p[ProtoInfo]
        files.extend([_import_path(s, info) for s in info.direct_sources])
    args = ctx.actions.args()
    args.add("--plugin=protoc-gen-openapiv2=" + ctx.executable._plugin.path)
    args.add("--openapiv2_out=" + raw.dirname)

    # Enums keep their *_UNSPECIFIED value: responses carry it for unset fields.
    args.add("--openapiv2_opt=allow_merge=true,merge_file_name=" + ctx.attr.merge_name +
             ",disable_default_errors=false")
    args.add_joined("--descriptor_set_in", descriptors, join_with = ":")
    args.add_all(files)
    ctx.actions.run(
        executable = ctx.executable._protoc,
        arguments = [args],
        inputs = descriptors,
        tools = [ctx.executable._plugin],
        outputs = [raw],
        mnemonic = "OpenAPIv2",
        progress_message = "Generating OpenAPI spec %{output}",
    )
    ctx.actions.run(
        executable = ctx.executable._finish,
        arguments = ["-title", ctx.attr.title, "-version", ctx.attr.version, "-in", raw.path, "-out", out.path],
        inputs = [raw],
        outputs = [out],
        mnemonic = "OpenAPIFinish",
        progress_message = "Finishing OpenAPI spec %{output}",
    )
    return [DefaultInfo(files = depset([out]))]

openapi_spec = rule(
    implementation = _openapi_spec_impl,
    attrs = {
        "protos": attr.label_list(providers = [ProtoInfo], mandatory = True),
        "merge_name": attr.string(mandatory = True),
        "title": attr.string(mandatory = True),
        "version": attr.string(mandatory = True),
        "_protoc": attr.label(default = "@com_google_protobuf//:protoc", executable = True, cfg = "exec"),
        "_finish": attr.label(default = "//tools/proto/finishspec", executable = True, cfg = "exec"),
        "_plugin": attr.label(
            default = "@com_github_grpc_ecosystem_grpc_gateway_v2//protoc-gen-openapiv2",
            executable = True,
            cfg = "exec",
        ),
    },
)
