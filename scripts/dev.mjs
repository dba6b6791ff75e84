/**
 * `npm run dev`: development mode. Starts the oracle API (port 9091) and the Vite dev server
 * for the PWA with hot reload; the dev server proxies API paths to the oracle.
 */
import { spawn } from 'node:child_process';
import { ensureModels, ensureNodeModules, root } from './ensure.mjs';

ensureNodeModules();
ensureModels();
const oracle = spawn('npx', ['tsx', 'native-oracle/main.ts', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit'
});
const vite = spawn('npx', ['vite', 'dev', '--host', '127.0.0.1'], { cwd: root, stdio: 'inherit' });
const stop = () => {
  oracle.kill('SIGTERM');
  vite.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
oracle.on('exit', stop);
vite.on('exit', stop);
