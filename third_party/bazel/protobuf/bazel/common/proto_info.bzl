"""protobuf's bazel/common:proto_info.bzl, served by rules_proto (Bazel's native ProtoInfo)."""

load("@rules_proto//proto:defs.bzl", _ProtoInfo = "ProtoInfo")

ProtoInfo = _ProtoInfo
