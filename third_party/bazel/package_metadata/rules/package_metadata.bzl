"""package_metadata stand-in: writes {"purl": ...} and returns PackageMetadataInfo."""

load("//providers:package_metadata_info.bzl", "PackageMetadataInfo")

def _impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name + ".package-metadata.json")
    ctx.actions.write(out, json.encode({"purl": ctx.attr.purl}))
    return [DefaultInfo(files = depset([out])), PackageMetadataInfo(metadata = out, purl = ctx.attr.purl)]

_package_metadata = rule(implementation = _impl, attrs = {"purl": attr.string(), "attributes": attr.label_list()})

def package_metadata(name, purl = "", attributes = [], visibility = None, **kwargs):
    # applicable_licenses = [] avoids a self-edge through REPO.bazel's default_package_metadata.
    _package_metadata(name = name, purl = purl, attributes = attributes, visibility = visibility, applicable_licenses = [], **kwargs)
