"""protobuf's bazel/common:proto_lang_toolchain_info.bzl, served by rules_proto."""

load("@rules_proto//proto:proto_common.bzl", _ProtoLangToolchainInfo = "ProtoLangToolchainInfo")

ProtoLangToolchainInfo = _ProtoLangToolchainInfo
