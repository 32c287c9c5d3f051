// Server-side gRPC interop cases (grpc interop-test-descriptions.md) run by @grpc/grpc-js.
// Usage: node client.js --port PORT --protos DIR [--cases a,b,...]
// Prints one line per case, "CASE <name> PASS" or "CASE <name> FAIL <reason>"; exits 1 if any failed.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const ALL_CASES = [
  'empty_unary', 'large_unary', 'client_compressed_unary', 'server_compressed_unary',
  'client_streaming', 'server_streaming', 'ping_pong', 'empty_stream', 'custom_metadata',
  'status_code_and_message', 'special_status_message', 'unimplemented_method',
  'unimplemented_service', 'cancel_after_begin', 'cancel_after_first_response',
  'timeout_on_sleeping_server',
];

const port = arg('port');
const protos = path.resolve(arg('protos'));
const cases = arg('cases', ALL_CASES.join(',')).split(',');

const definition = protoLoader.loadSync('grpc/testing/test.proto', {
  includeDirs: [protos], keepCase: true, longs: Number, defaults: true,
});
const testing = grpc.loadPackageDefinition(definition).grpc.testing;
const address = `127.0.0.1:${port}`;
const client = new testing.TestService(address, grpc.credentials.createInsecure());
// grpc-js compresses per channel: a second client sends gzip messages (2 = gzip).
const gzipClient = new testing.TestService(address, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
const unimplementedService = new testing.UnimplementedService(address, grpc.credentials.createInsecure());

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const zeros = (size) => ({ body: Buffer.alloc(size) });

function checkZeros(payload, size) {
  check(payload && payload.body.length === size, `payload size ${payload && payload.body.length}, expected ${size}`);
  check(payload.body.every((b) => b === 0), 'payload is not all zeros');
}

const deadline = (ms = 10000) => ({ deadline: Date.now() + ms });

function unary(stub, method, request, metadata = new grpc.Metadata(), options = deadline()) {
  return new Promise((resolve, reject) => {
    let headers;
    let outcome;
    // grpc-js calls back before it emits 'status' (the trailers): settle on the later of the two.
    const call = stub[method](request, metadata, options, (error, response) => { outcome = { error, response }; });
    call.on('metadata', (m) => { headers = m; });
    call.on('status', (s) => {
      if (outcome.error) reject(outcome.error);
      else resolve({ response: outcome.response, headers, trailers: s.metadata });
    });
  });
}

async function expectStatus(code, promise) {
  try {
    await promise;
  } catch (error) {
    check(error.code === code, `expected status ${code}, got ${error.code}: ${error.details}`);
    return error;
  }
  throw new Error(`expected status ${code}, the call succeeded`);
}

// Reads a duplex/server stream to its end: resolves with the messages or rejects with the status.
function collect(call) {
  return new Promise((resolve, reject) => {
    const messages = [];
    let headers;
    call.on('metadata', (m) => { headers = m; });
    call.on('data', (m) => messages.push(m));
    call.on('error', reject);
    call.on('status', (s) => { if (s.code === grpc.status.OK) resolve({ messages, headers, trailers: s.metadata }); });
  });
}

function nextMessage(call) {
  return new Promise((resolve, reject) => {
    const onData = (m) => { cleanup(); resolve(m); };
    const onError = (e) => { cleanup(); reject(e); };
    const cleanup = () => { call.off('data', onData); call.off('error', onError); };
    call.on('data', onData);
    call.on('error', onError);
  });
}

const impl = {
  async empty_unary() {
    const { response } = await unary(client, 'EmptyCall', {});
    check(response && Object.keys(response).length === 0, 'response is not Empty');
  },

  async large_unary() {
    const { response } = await unary(client, 'UnaryCall', { response_size: 314159, payload: zeros(271828) });
    checkZeros(response.payload, 314159);
  },

  async client_compressed_unary() {
    const request = (expect) => ({ expect_compressed: { value: expect }, response_size: 314159, payload: zeros(271828) });
    await expectStatus(grpc.status.INVALID_ARGUMENT, unary(client, 'UnaryCall', request(true)));
    checkZeros((await unary(gzipClient, 'UnaryCall', request(true))).response.payload, 314159);
    checkZeros((await unary(client, 'UnaryCall', request(false))).response.payload, 314159);
  },

  async server_compressed_unary() {
    for (const compressed of [true, false]) {
      const { response } = await unary(client, 'UnaryCall', { response_compressed: { value: compressed }, response_size: 314159, payload: zeros(271828) });
      checkZeros(response.payload, 314159);
    }
  },

  async client_streaming() {
    const response = await new Promise((resolve, reject) => {
      const call = client.StreamingInputCall(deadline(), (error, r) => (error ? reject(error) : resolve(r)));
      for (const size of [27182, 8, 1828, 45904]) call.write({ payload: zeros(size) });
      call.end();
    });
    check(response.aggregated_payload_size === 74922, `aggregated_payload_size ${response.aggregated_payload_size}`);
  },

  async server_streaming() {
    const sizes = [31415, 9, 2653, 58979];
    const { messages } = await collect(client.StreamingOutputCall({ response_parameters: sizes.map((size) => ({ size })) }, deadline()));
    check(messages.length === 4, `${messages.length} responses`);
    messages.forEach((m, i) => checkZeros(m.payload, sizes[i]));
  },

  async ping_pong() {
    const call = client.FullDuplexCall(deadline());
    const done = collect(call);
    for (const [requestSize, responseSize] of [[27182, 31415], [8, 9], [1828, 2653], [45904, 58979]]) {
      const next = nextMessage(call);
      call.write({ response_parameters: [{ size: responseSize }], payload: zeros(requestSize) });
      checkZeros((await next).payload, responseSize);
    }
    call.end();
    const { messages } = await done;
    check(messages.length === 4, `${messages.length} responses in all`);
  },

  async empty_stream() {
    const call = client.FullDuplexCall(deadline());
    const done = collect(call);
    call.end();
    const { messages } = await done;
    check(messages.length === 0, `${messages.length} responses to an empty stream`);
  },

  async custom_metadata() {
    const metadata = () => {
      const m = new grpc.Metadata();
      m.set('x-grpc-test-echo-initial', 'test_initial_metadata_value');
      m.set('x-grpc-test-echo-trailing-bin', Buffer.from([0xab, 0xab, 0xab]));
      return m;
    };
    const checkEchoed = (headers, trailers) => {
      check(headers && headers.get('x-grpc-test-echo-initial')[0] === 'test_initial_metadata_value', 'initial metadata not echoed');
      const trailing = trailers && trailers.get('x-grpc-test-echo-trailing-bin')[0];
      check(Buffer.isBuffer(trailing) && trailing.equals(Buffer.from([0xab, 0xab, 0xab])), 'trailing binary metadata not echoed');
    };
    const u = await unary(client, 'UnaryCall', { response_size: 314159, payload: zeros(271828) }, metadata());
    checkZeros(u.response.payload, 314159);
    checkEchoed(u.headers, u.trailers);

    const call = client.FullDuplexCall(metadata(), deadline());
    const done = collect(call);
    call.write({ response_parameters: [{ size: 314159 }], payload: zeros(271828) });
    call.end();
    const d = await done;
    check(d.messages.length === 1, `${d.messages.length} responses`);
    checkZeros(d.messages[0].payload, 314159);
    checkEchoed(d.headers, d.trailers);
  },

  async status_code_and_message() {
    const status = { code: 2, message: 'test status message' };
    const e = await expectStatus(grpc.status.UNKNOWN, unary(client, 'UnaryCall', { response_status: status }));
    check(e.details === status.message, `unary details ${JSON.stringify(e.details)}`);
    const call = client.FullDuplexCall(deadline());
    const done = collect(call);
    call.write({ response_status: status });
    call.end();
    const d = await expectStatus(grpc.status.UNKNOWN, done);
    check(d.details === status.message, `duplex details ${JSON.stringify(d.details)}`);
  },

  async special_status_message() {
    const message = '\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \u{1F608}\t\n';
    const e = await expectStatus(grpc.status.UNKNOWN, unary(client, 'UnaryCall', { response_status: { code: 2, message } }));
    check(e.details === message, `details ${JSON.stringify(e.details)}`);
  },

  async unimplemented_method() {
    await expectStatus(grpc.status.UNIMPLEMENTED, unary(client, 'UnimplementedCall', {}));
  },

  async unimplemented_service() {
    await expectStatus(grpc.status.UNIMPLEMENTED, unary(unimplementedService, 'UnimplementedCall', {}));
  },

  async cancel_after_begin() {
    const done = new Promise((resolve, reject) => {
      const call = client.StreamingInputCall(deadline(), (error, r) => (error ? reject(error) : resolve(r)));
      call.cancel();
    });
    await expectStatus(grpc.status.CANCELLED, done);
  },

  async cancel_after_first_response() {
    const call = client.FullDuplexCall(deadline());
    const done = collect(call);
    const first = nextMessage(call);
    call.write({ response_parameters: [{ size: 31415 }], payload: zeros(27182) });
    checkZeros((await first).payload, 31415);
    call.cancel();
    await expectStatus(grpc.status.CANCELLED, done);
  },

  async timeout_on_sleeping_server() {
    const call = client.FullDuplexCall(deadline(1));
    const done = collect(call);
    call.write({ payload: zeros(27182) });
    await expectStatus(grpc.status.DEADLINE_EXCEEDED, done);
  },
};

(async () => {
  let failed = false;
  for (const name of cases) {
    try {
      if (!impl[name]) throw new Error('unknown case');
      await impl[name]();
      console.log(`CASE ${name} PASS`);
    } catch (error) {
      failed = true;
      console.log(`CASE ${name} FAIL ${String(error && (error.stack || error)).replace(/\n/g, ' ')}`);
    }
  }
  client.close();
  gzipClient.close();
  unimplementedService.close();
  process.exit(failed ? 1 : 0);
})();
