import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour = 'ok' | 'error' | 'hang' | { redirectTo: string };

export interface ReceivedRequest {
  n: number;
  headers: IncomingHttpHeaders;
  body: string;
  answered: Behaviour;
}

/** A webhook receiver we control: decide per request whether it answers 200, 500, a redirect, or never. */
export class WebhookTarget {
  readonly requests: ReceivedRequest[] = [];
  /** Behaviour of request n (1-based); replace at will. */
  behave: (n: number) => Behaviour = () => 'ok';
  private readonly server: Server;
  private readonly hanging = new Set<ServerResponse>();

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(): Promise<WebhookTarget> {
    let target!: WebhookTarget;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => target.handle(Buffer.concat(chunks).toString('utf8'), req.headers, res));
    });
    target = new WebhookTarget(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return target;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/basalt`;
  }

  eventIds(): string[] {
    return this.requests.map((r) => String(r.headers['x-basalt-event-id']));
  }

  private handle(body: string, headers: IncomingHttpHeaders, res: ServerResponse): void {
    const n = this.requests.length + 1;
    const answered = this.behave(n);
    this.requests.push({ n, headers, body, answered });
    if (answered === 'hang') {
      this.hanging.add(res);
      res.on('close', () => this.hanging.delete(res));
    } else if (answered === 'error') {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
    } else if (answered === 'ok') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    } else {
      res.writeHead(302, { location: answered.redirectTo }).end();
    }
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
