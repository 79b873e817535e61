/**
 * A TCP proxy with injectable latency, in the database path of the local cluster
 * (api/worker nodes → this proxy → HAProxy write port). With latency 0 it only forwards.
 * Control over HTTP on 127.0.0.1: `GET /latency` → {"ms":n}; `PUT /latency?ms=200` delays
 * every chunk in both directions by ms/2 (so each round trip gains ms), keeping order.
 *
 *   node src/cluster/tcp-proxy.ts <listenPort> <targetPort> <controlPort>
 */
import http from 'node:http';
import net from 'node:net';

export function startLatencyProxy(listenPort: number, targetPort: number, controlPort: number): { close(): void } {
  let latencyMs = 0;
  const pipe = (from: net.Socket, to: net.Socket) => {
    // Chunks leave in arrival order: each waits until the previous one is out.
    let chain = Promise.resolve();
    from.on('data', (chunk) => {
      const delay = latencyMs / 2;
      if (delay <= 0) {
        chain = chain.then(() => {
          if (!to.destroyed) to.write(chunk);
        });
        return;
      }
      const due = Date.now() + delay;
      chain = chain.then(
        () =>
          new Promise<void>((r) =>
            setTimeout(() => {
              if (!to.destroyed) to.write(chunk);
              r();
            }, Math.max(0, due - Date.now())),
          ),
      );
    });
    from.on('end', () => void chain.then(() => to.end()));
    from.on('error', () => to.destroy());
    from.on('close', () => void chain.then(() => to.destroy()));
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ port: targetPort, host: '127.0.0.1' });
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    pipe(client, upstream);
    pipe(upstream, client);
  });
  server.listen(listenPort, '127.0.0.1');
  const control = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/latency' && req.method === 'PUT') {
      const ms = Number(url.searchParams.get('ms'));
      if (!Number.isFinite(ms) || ms < 0 || ms > 60_000) {
        res.writeHead(400).end('ms must be 0..60000\n');
        return;
      }
      latencyMs = ms;
    }
    if (url.pathname === '/latency') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ms: latencyMs }));
      return;
    }
    res.writeHead(404).end();
  });
  control.listen(controlPort, '127.0.0.1');
  return {
    close() {
      server.close();
      control.close();
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [listen, target, controlPort] = process.argv.slice(2).map(Number);
  if (!listen || !target || !controlPort) {
    process.stderr.write('usage: tcp-proxy.ts <listenPort> <targetPort> <controlPort>\n');
    process.exit(64);
  }
  startLatencyProxy(listen, target, controlPort);
  process.on('SIGTERM', () => process.exit(0));
}
