"""protobuf's bazel/proto_library.bzl entry point, served by rules_proto."""

load("@rules_proto//proto:defs.bzl", _proto_library = "proto_library")

proto_library = _proto_library
