"""ss_proxy_test: a cmocka test that starts the server and proxy binaries."""

load("//bazel:copts.bzl", "GRPC_COMPATIBLE", "ss_test")

def ss_proxy_test(name, deps = [], **kwargs):
    """A test given the paths of the server, demo-data and proxy binaries.

    They arrive as argv[1..3] (runfiles), parsed by ss_proxy_test_args;
    --test_arg values follow them. The test links libgrpc, so it is skipped
    under --config=boringssl.
    """
    ss_test(
        name = name,
        args = [
            "$(rootpath //server:sealstream-server)",
            "$(rootpath //server:sealstream-demo-data)",
            "$(rootpath //proxy:sealstream-proxy)",
        ],
        data = [
            "//proxy:sealstream-proxy",
            "//server:sealstream-demo-data",
            "//server:sealstream-server",
        ],
        target_compatible_with = GRPC_COMPATIBLE,
        deps = deps,
        **kwargs
    )
