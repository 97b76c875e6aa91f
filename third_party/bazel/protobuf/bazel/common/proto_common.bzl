"""protobuf's bazel/common:proto_common.bzl, served by rules_proto (Bazel's native one)."""

load("@rules_proto//proto:proto_common.bzl", _proto_common = "proto_common")

proto_common = _proto_common
