// Free-port helper for peers that cannot bind port 0 themselves (e.g. moto_server takes a fixed -p PORT).
// There is an unavoidable window between closing the probe socket and the child binding the port, so callers
// must retry on EADDRINUSE (startMoto does).
import { createServer } from 'node:net';

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('could not read the probe socket address'));
        return;
      }
      srv.close((err) => (err ? reject(err) : resolve(addr.port)));
    });
  });
}
