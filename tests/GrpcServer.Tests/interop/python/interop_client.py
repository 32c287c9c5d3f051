"""Server-side gRPC interop cases (grpc interop-test-descriptions.md) run by Python grpcio.

Usage: interop_client.py --port PORT --gen DIR [--cases a,b,...]
DIR holds the grpc/testing/*_pb2.py modules protoc generated from our own protos.
Prints one line per case, "CASE <name> PASS" or "CASE <name> FAIL <reason>", and exits 1
if any case failed.
"""
import argparse
import queue
import sys
import threading
import traceback

import grpc


def load_messages(gen_dir):
    # The generated modules live in package grpc.testing, which collides with the installed
    # grpc package: extend its search path instead of shadowing it.
    grpc.__path__.append(gen_dir + "/grpc")
    from grpc.testing import empty_pb2, messages_pb2  # noqa: E402
    return empty_pb2, messages_pb2


class Stubs:
    def __init__(self, channel, empty_pb2, m):
        def method(kind, name, req, resp, service="grpc.testing.TestService"):
            return getattr(channel, kind)(
                f"/{service}/{name}",
                request_serializer=req.SerializeToString,
                response_deserializer=resp.FromString,
            )

        self.empty_call = method("unary_unary", "EmptyCall", empty_pb2.Empty, empty_pb2.Empty)
        self.unary_call = method("unary_unary", "UnaryCall", m.SimpleRequest, m.SimpleResponse)
        self.streaming_output_call = method("unary_stream", "StreamingOutputCall", m.StreamingOutputCallRequest, m.StreamingOutputCallResponse)
        self.streaming_input_call = method("stream_unary", "StreamingInputCall", m.StreamingInputCallRequest, m.StreamingInputCallResponse)
        self.full_duplex_call = method("stream_stream", "FullDuplexCall", m.StreamingOutputCallRequest, m.StreamingOutputCallResponse)
        self.unimplemented_call = method("unary_unary", "UnimplementedCall", empty_pb2.Empty, empty_pb2.Empty)
        self.unimplemented_service_call = method("unary_unary", "UnimplementedCall", empty_pb2.Empty, empty_pb2.Empty, service="grpc.testing.UnimplementedService")


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_rpc_error(code, call, *args, **kwargs):
    try:
        call(*args, **kwargs)
    except grpc.RpcError as error:
        check(error.code() == code, f"expected {code}, got {error.code()}: {error.details()}")
        return error
    raise AssertionError(f"expected {code}, the call succeeded")


def payload(m, size):
    return m.Payload(body=b"\0" * size)


def check_zeros(p, size):
    check(len(p.body) == size, f"payload size {len(p.body)}, expected {size}")
    check(p.body == b"\0" * size, "payload is not all zeros")


class Cases:
    def __init__(self, stubs, empty_pb2, m):
        self.s = stubs
        self.e = empty_pb2
        self.m = m

    def empty_unary(self):
        response = self.s.empty_call(self.e.Empty(), timeout=10)
        check(response == self.e.Empty(), "response is not Empty")

    def large_unary(self):
        response = self.s.unary_call(self.m.SimpleRequest(response_size=314159, payload=payload(self.m, 271828)), timeout=10)
        check_zeros(response.payload, 314159)

    def client_compressed_unary(self):
        m = self.m
        # Probe: a server that checks the flag refuses an uncompressed message expected compressed.
        expect_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, self.s.unary_call,
                         m.SimpleRequest(expect_compressed=m.BoolValue(value=True), response_size=314159, payload=payload(m, 271828)), timeout=10)
        response = self.s.unary_call(
            m.SimpleRequest(expect_compressed=m.BoolValue(value=True), response_size=314159, payload=payload(m, 271828)),
            timeout=10, compression=grpc.Compression.Gzip)
        check_zeros(response.payload, 314159)
        response = self.s.unary_call(
            m.SimpleRequest(expect_compressed=m.BoolValue(value=False), response_size=314159, payload=payload(m, 271828)), timeout=10)
        check_zeros(response.payload, 314159)

    def server_compressed_unary(self):
        m = self.m
        for compressed in (True, False):
            response, call = self.s.unary_call.with_call(
                m.SimpleRequest(response_compressed=m.BoolValue(value=compressed), response_size=314159, payload=payload(m, 271828)), timeout=10)
            check_zeros(response.payload, 314159)

    def client_streaming(self):
        m = self.m
        requests = [m.StreamingInputCallRequest(payload=payload(m, size)) for size in (27182, 8, 1828, 45904)]
        response = self.s.streaming_input_call(iter(requests), timeout=10)
        check(response.aggregated_payload_size == 74922, f"aggregated_payload_size {response.aggregated_payload_size}")

    def server_streaming(self):
        m = self.m
        sizes = (31415, 9, 2653, 58979)
        request = m.StreamingOutputCallRequest(response_parameters=[m.ResponseParameters(size=s) for s in sizes])
        responses = list(self.s.streaming_output_call(request, timeout=10))
        check(len(responses) == 4, f"{len(responses)} responses")
        for response, size in zip(responses, sizes):
            check_zeros(response.payload, size)

    def ping_pong(self):
        m = self.m
        requests = queue.Queue()

        def request_iterator():
            while True:
                item = requests.get()
                if item is None:
                    return
                yield item

        call = self.s.full_duplex_call(request_iterator(), timeout=10)
        for request_size, response_size in ((27182, 31415), (8, 9), (1828, 2653), (45904, 58979)):
            requests.put(m.StreamingOutputCallRequest(response_parameters=[m.ResponseParameters(size=response_size)], payload=payload(m, request_size)))
            response = next(call)
            check_zeros(response.payload, response_size)
        requests.put(None)
        check(next(call, None) is None, "more responses than requests")

    def empty_stream(self):
        responses = list(self.s.full_duplex_call(iter([]), timeout=10))
        check(responses == [], f"{len(responses)} responses to an empty stream")

    def custom_metadata(self):
        m = self.m
        initial = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
        trailing = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")
        response, call = self.s.unary_call.with_call(
            m.SimpleRequest(response_size=314159, payload=payload(m, 271828)), metadata=[initial, trailing], timeout=10)
        check_zeros(response.payload, 314159)
        self._check_echoed(call.initial_metadata(), call.trailing_metadata(), initial, trailing)

        call = self.s.full_duplex_call(
            iter([m.StreamingOutputCallRequest(response_parameters=[m.ResponseParameters(size=314159)], payload=payload(m, 271828))]),
            metadata=[initial, trailing], timeout=10)
        responses = list(call)
        check(len(responses) == 1, f"{len(responses)} responses")
        check_zeros(responses[0].payload, 314159)
        self._check_echoed(call.initial_metadata(), call.trailing_metadata(), initial, trailing)

    @staticmethod
    def _check_echoed(headers, trailers, initial, trailing):
        check(initial in list(headers), f"initial metadata {headers} lacks {initial}")
        check(trailing in list(trailers), f"trailing metadata {trailers} lacks {trailing}")

    def _status_case(self, message):
        m = self.m
        status = m.EchoStatus(code=2, message=message)
        error = expect_rpc_error(grpc.StatusCode.UNKNOWN, self.s.unary_call, m.SimpleRequest(response_status=status), timeout=10)
        check(error.details() == message, f"unary details {error.details()!r}, expected {message!r}")
        return status

    def status_code_and_message(self):
        m = self.m
        status = self._status_case("test status message")
        call = self.s.full_duplex_call(iter([m.StreamingOutputCallRequest(response_status=status)]), timeout=10)
        try:
            list(call)
            raise AssertionError("the duplex call succeeded")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.UNKNOWN, f"duplex code {error.code()}")
            check(error.details() == "test status message", f"duplex details {error.details()!r}")

    def special_status_message(self):
        self._status_case("\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n")

    def unimplemented_method(self):
        expect_rpc_error(grpc.StatusCode.UNIMPLEMENTED, self.s.unimplemented_call, self.e.Empty(), timeout=10)

    def unimplemented_service(self):
        expect_rpc_error(grpc.StatusCode.UNIMPLEMENTED, self.s.unimplemented_service_call, self.e.Empty(), timeout=10)

    def cancel_after_begin(self):
        never = threading.Event()

        def requests():
            never.wait()
            return
            yield

        future = self.s.streaming_input_call.future(requests(), timeout=10)
        future.cancel()
        never.set()
        check(future.cancelled(), "the call is not cancelled")
        try:
            future.result()
            raise AssertionError("the cancelled call succeeded")
        except grpc.FutureCancelledError:
            pass
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.CANCELLED, f"code {error.code()}")

    def cancel_after_first_response(self):
        m = self.m
        requests = queue.Queue()

        def request_iterator():
            while True:
                item = requests.get()
                if item is None:
                    return
                yield item

        call = self.s.full_duplex_call(request_iterator(), timeout=10)
        requests.put(m.StreamingOutputCallRequest(response_parameters=[m.ResponseParameters(size=31415)], payload=payload(m, 27182)))
        check_zeros(next(call).payload, 31415)
        call.cancel()
        requests.put(None)
        check(call.code() == grpc.StatusCode.CANCELLED, f"code {call.code()}")

    def timeout_on_sleeping_server(self):
        m = self.m
        never = threading.Event()

        def requests():
            yield m.StreamingOutputCallRequest(payload=payload(m, 27182))
            never.wait(5)

        call = self.s.full_duplex_call(requests(), timeout=0.001)
        try:
            list(call)
            raise AssertionError("the call outlived its deadline")
        except grpc.RpcError as error:
            check(error.code() == grpc.StatusCode.DEADLINE_EXCEEDED, f"code {error.code()}")
        finally:
            never.set()


ALL_CASES = [
    "empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary",
    "client_streaming", "server_streaming", "ping_pong", "empty_stream", "custom_metadata",
    "status_code_and_message", "special_status_message", "unimplemented_method",
    "unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
    "timeout_on_sleeping_server",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gen", required=True)
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    args = parser.parse_args()
    empty_pb2, messages_pb2 = load_messages(args.gen)
    failed = False
    with grpc.insecure_channel(f"127.0.0.1:{args.port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        cases = Cases(Stubs(channel, empty_pb2, messages_pb2), empty_pb2, messages_pb2)
        for name in args.cases.split(","):
            try:
                getattr(cases, name)()
                print(f"CASE {name} PASS", flush=True)
            except Exception as error:  # every failure is reported on the case's line
                failed = True
                reason = f"{type(error).__name__}: {error}".replace("\n", " ")
                print(f"CASE {name} FAIL {reason}", flush=True)
                traceback.print_exc(file=sys.stderr)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
