"""grpc.testing.TestService on Python grpcio, for tests of our client against a real server.

Usage: test_server.py --gen DIR [--port PORT]
DIR holds the grpc/testing/*_pb2.py modules protoc generated from our own protos. Prints
"PORT <n>" once listening (port 0 picks a free one) and serves until SIGTERM or SIGINT.
Besides the interop behaviour, metadata "x-sleep-ms" makes UnaryCall sleep first (for
deadline tests); "x-echo-*" request metadata comes back in the headers and in the trailers.
"""
import argparse
import signal
import sys
import threading
import time
from concurrent import futures

import grpc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gen", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    # The generated package grpc.testing collides with the installed grpc: extend its path.
    grpc.__path__.append(args.gen + "/grpc")
    from grpc.testing import empty_pb2, messages_pb2 as m  # noqa: E402

    def echo_metadata(context):
        echoed = tuple((k, v) for k, v in context.invocation_metadata() if k.startswith("x-echo-"))
        if echoed:
            context.send_initial_metadata(echoed)
            context.set_trailing_metadata(echoed)

    def zeros(size):
        return m.Payload(body=b"\0" * size)

    def abort_if_asked(status, context):
        if status.code != 0:
            context.abort(_codes[status.code], status.message)

    def unary_call(request, context):
        echo_metadata(context)
        sleep_ms = dict(context.invocation_metadata()).get("x-sleep-ms")
        if sleep_ms:
            time.sleep(int(sleep_ms) / 1000)
        abort_if_asked(request.response_status, context)
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        return m.SimpleResponse(payload=zeros(request.response_size))

    def streaming_output_call(request, context):
        echo_metadata(context)
        for parameters in request.response_parameters:
            if parameters.interval_us:
                if not context.is_active():
                    return
                time.sleep(parameters.interval_us / 1e6)
            yield m.StreamingOutputCallResponse(payload=zeros(parameters.size))
        abort_if_asked(request.response_status, context)

    def streaming_input_call(request_iterator, context):
        total = sum(len(r.payload.body) for r in request_iterator)
        return m.StreamingInputCallResponse(aggregated_payload_size=total)

    def full_duplex_call(request_iterator, context):
        echo_metadata(context)
        for request in request_iterator:
            abort_if_asked(request.response_status, context)
            for parameters in request.response_parameters:
                yield m.StreamingOutputCallResponse(payload=zeros(parameters.size))

    def handler(kind, fn, req, resp):
        return getattr(grpc, kind)(fn, request_deserializer=req.FromString, response_serializer=resp.SerializeToString)

    service = grpc.method_handlers_generic_handler("grpc.testing.TestService", {
        "EmptyCall": handler("unary_unary_rpc_method_handler", lambda r, c: empty_pb2.Empty(), empty_pb2.Empty, empty_pb2.Empty),
        "UnaryCall": handler("unary_unary_rpc_method_handler", unary_call, m.SimpleRequest, m.SimpleResponse),
        "StreamingOutputCall": handler("unary_stream_rpc_method_handler", streaming_output_call, m.StreamingOutputCallRequest, m.StreamingOutputCallResponse),
        "StreamingInputCall": handler("stream_unary_rpc_method_handler", streaming_input_call, m.StreamingInputCallRequest, m.StreamingInputCallResponse),
        "FullDuplexCall": handler("stream_stream_rpc_method_handler", full_duplex_call, m.StreamingOutputCallRequest, m.StreamingOutputCallResponse),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((service,))
    port = server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    print(f"PORT {port}", flush=True)

    stopped = threading.Event()

    def stop(*_):
        # grpcio ignores SIGTERM unless asked: stop and let main return.
        server.stop(grace=1)
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stopped.wait()
    sys.exit(0)


_codes = {code.value[0]: code for code in grpc.StatusCode}

if __name__ == "__main__":
    main()
