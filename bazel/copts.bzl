"""Compiler flags and the rule wrappers every BUILD file uses."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_library", "cc_test")

SS_COPTS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    # lib/ imports JWKs through RSA_set0_key and EC_KEY_*, which OpenSSL 3
    # marks deprecated but BoringSSL offers no replacement for.
    "-DOPENSSL_API_COMPAT=10101",
    "-Wall",
    "-Wextra",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wvla",
    "-Wformat=2",
    "-Werror",
]

# Targets that link libgrpc cannot be built against BoringSSL.
GRPC_COMPATIBLE = select({
    "//bazel:boringssl": ["@platforms//:incompatible"],
    "//conditions:default": [],
})

def ss_library(name, copts = [], **kwargs):
    cc_library(name = name, copts = SS_COPTS + copts, **kwargs)

def ss_binary(name, copts = [], **kwargs):
    cc_binary(name = name, copts = SS_COPTS + copts, **kwargs)

def ss_test(name, copts = [], deps = [], size = "small", **kwargs):
    """A cmocka test."""
    cc_test(
        name = name,
        size = size,
        copts = SS_COPTS + copts,
        deps = deps + ["@system//:cmocka"],
        **kwargs
    )
