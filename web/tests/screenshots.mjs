// Regenerates docs/screenshots/: the main screens at desktop (1280×800) and phone
// (390×844) width, on a fresh server filled with a small made-up conversation.
//
//   cargo build -p hilo && cd web/tests && npm ci && HILO_BIN=../../target/debug/hilo node screenshots.mjs

import { mkdirSync } from 'node:fs';
import { launch, person, png, Server } from './harness.mjs';

const out = new URL('../../docs/screenshots/', import.meta.url);
mkdirSync(out, { recursive: true });

const server = await Server.start();
const browser = await launch();
try {
  const ana = await server.register('ana', 'ana-long-secret-1', 'Ana García');
  const bob = await server.register('bob', 'bob-long-secret-2', 'Bob Smith');
  const carol = await server.register('carol', 'carol-long-secret-3', 'Carol Díaz');
  const dan = await server.register('dan', 'dan-long-secret-4', 'Dan Okafor');
  const api = (method, path, who, body) => server.api(method, path, who.token, body);
  await api('POST', '/friends', ana, { username: 'bob' });
  await api('POST', '/friends', bob, { username: 'ana' });
  await api('POST', '/friends', ana, { username: 'carol' });
  await api('POST', '/friends', carol, { username: 'ana' });
  const direct = await api('POST', '/conversations', ana, { kind: 'direct', with: 'bob' });
  const say = (who, conv, text, extra = {}) => api('POST', `/conversations/${conv.id}/messages`, who, { client_txn_id: Math.random().toString(36).slice(2), text, ...extra });
  await say(bob, direct, 'Hi Ana! Are we still on for Saturday?');
  const plan = await say(ana, direct, 'Yes! Meet at the market at 10?');
  await say(bob, direct, 'Perfect. I’ll bring coffee ☕');
  await api('PUT', `/messages/${plan.id}/reactions/${encodeURIComponent('👍')}`, bob);
  const upload = await fetch(`${server.base}/api/v1/attachments`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bob.token}` },
    body: (() => { const f = new FormData(); f.append('file', new Blob([png(320, 200)], { type: 'image/png' }), 'market.png'); return f; })(),
  }).then((r) => r.json());
  await say(bob, direct, 'This is the place', { attachment_ids: [upload.id] });
  await say(ana, direct, 'Looks great, see you there!', { reply_to: plan.id });
  const group = await api('POST', '/conversations', ana, { kind: 'group', name: 'Weekend trip', members: ['bob', 'carol'] });
  await say(carol, group, 'I booked the cabin 🎉');
  await say(bob, group, '@ana can you bring the map?');
  await api('POST', '/conversations', dan, { kind: 'direct', with: 'ana' }).then((c) => say(dan, c, 'Hello! We met at the conference last week.'));

  for (const [name, viewport] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]]) {
    const { context, page } = await person(browser, server, { viewport });
    await page.goto('/');
    await page.screenshot({ path: new URL(`login-${name}.png`, out).pathname });
    await page.getByLabel('Username').fill('ana');
    await page.getByLabel('Password').fill('ana-long-secret-1');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('link', { name: 'Bob Smith', exact: true }).waitFor();
    await page.screenshot({ path: new URL(`inbox-${name}.png`, out).pathname });
    await page.getByRole('link', { name: 'Bob Smith', exact: true }).click();
    await page.getByRole('button', { name: 'Open image market.png' }).locator('img[src^="blob:"]').waitFor();
    await page.waitForTimeout(300);
    await page.screenshot({ path: new URL(`thread-${name}.png`, out).pathname });
    await page.goto('/#/settings/security');
    await page.getByRole('heading', { name: 'Where you’re logged in' }).waitFor();
    await page.screenshot({ path: new URL(`security-${name}.png`, out).pathname });
    if (name === 'desktop') {
      await page.getByRole('combobox', { name: 'Language' }).selectOption('es');
      await page.goto(`/#/c/${group.id}`);
      await page.getByRole('log', { name: 'Mensajes' }).getByText('I booked the cabin').waitFor();
      await page.screenshot({ path: new URL('group-es-desktop.png', out).pathname });
    }
    await context.close();
  }
  console.log(`screenshots written to ${out.pathname}`);
} finally {
  await browser.close();
  await server.close();
}
