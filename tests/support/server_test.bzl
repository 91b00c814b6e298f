"""ss_server_test: a cmocka test that starts the real server binaries."""

load("//bazel:copts.bzl", "GRPC_COMPATIBLE", "ss_test")

def ss_server_test(name, deps = [], **kwargs):
    """A test given the paths of sealstream-server and sealstream-demo-data.

    The paths arrive as argv[1] and argv[2] (runfiles), which
    //tests/support:fixture parses. The test links libgrpc, so it is skipped
    under --config=boringssl.
    """
    ss_test(
        name = name,
        args = [
            "$(rootpath //server:sealstream-server)",
            "$(rootpath //server:sealstream-demo-data)",
        ],
        data = [
            "//server:sealstream-server",
            "//server:sealstream-demo-data",
        ],
        target_compatible_with = GRPC_COMPATIBLE,
        deps = deps,
        **kwargs
    )
