// The web client end to end, in headless Chromium against a real hilo process (issue 9):
// two browser contexts are two people. Controls are found by their accessible names, as
// a screen reader would find them. Run by crates/hilo/tests/web.rs (so `cargo test`
// runs it) or by hand: HILO_BIN=target/debug/hilo node --test web/tests/e2e.test.mjs

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { launch, person, png, secret, Server, signUp, totp } from './harness.mjs';

const PASSWORD_ANA = 'ana-long-secret-1';
const PASSWORD_BOB = 'bob-long-secret-2';

let server;
let browser;
let ana;
let bob;

before(async () => {
  server = await Server.start();
  browser = await launch();
  ana = await person(browser, server);
  bob = await person(browser, server);
});

after(async () => {
  await browser?.close();
  await server?.close();
});

const conversationLink = (page, name) => page.getByRole('link', { name, exact: true });
const thread = (page) => page.getByRole('log', { name: 'Messages' });
const message = (page, text) => thread(page).locator('article').filter({ hasText: text });
const tokenOf = (page) => page.evaluate(() => localStorage.getItem('hilo.token'));

async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await message(page, text).first().waitFor();
}

test('the page is served by the binary with its own policy, and every string is in both languages', async () => {
  const r = await fetch(`${server.base}/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /text\/html/);
  const csp = r.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal((await fetch(`${server.base}/assets/nope.js`)).status, 404);

  await ana.page.goto('/');
  const dictionaries = await ana.page.evaluate(async () => {
    const { DICTIONARIES } = await import('/assets/js/i18n.js');
    return Object.fromEntries(Object.entries(DICTIONARIES).map(([code, d]) => [code, Object.keys(d)]));
  });
  assert.deepEqual([...dictionaries.es].sort(), [...dictionaries.en].sort(), 'English and Spanish have the same keys');
  // Every literal key the code asks for exists.
  const dir = new URL('../js/', import.meta.url);
  const used = new Set();
  for (const file of readdirSync(dir)) {
    for (const match of readFileSync(new URL(file, dir), 'utf8').matchAll(/\bt\('([a-z0-9_.]+)'/gi)) used.add(match[1]);
  }
  const missing = [...used].filter((key) => !dictionaries.en.includes(key));
  assert.deepEqual(missing, [], 'keys used but not translated');
  assert.ok(used.size > 200, `found ${used.size} keys`);
});

test('two people sign up, become friends and talk live', async () => {
  await signUp(ana.page, 'ana', PASSWORD_ANA);
  await signUp(bob.page, 'bob', PASSWORD_BOB);

  // Ana finds Bob in People and asks; Bob accepts from his People page, live.
  await ana.page.getByRole('link', { name: 'People' }).click();
  await ana.page.getByLabel('Find people').fill('bob');
  await ana.page.getByRole('button', { name: 'Add friend' }).click();
  await ana.page.getByRole('button', { name: 'Cancel request' }).waitFor();
  await bob.page.getByRole('link', { name: 'People' }).click();
  await bob.page.getByRole('button', { name: 'Accept request' }).click();
  await bob.page.getByRole('heading', { name: 'Friends (1)' }).waitFor();

  // Bob opens the conversation from his friend list and writes; Ana sees it arrive.
  await bob.page.getByRole('button', { name: 'Message' }).click();
  await send(bob.page, 'Hola Ana, ¿qué tal?');
  await conversationLink(ana.page, 'bob').waitFor();
  await conversationLink(ana.page, 'bob').click();
  await message(ana.page, 'Hola Ana, ¿qué tal?').waitFor();
  // Shift+Enter is a new line, Enter sends; the Send button works too.
  const box = ana.page.getByRole('textbox', { name: 'Message' });
  await box.fill('Muy bien.');
  await box.press('Shift+Enter');
  await box.type('¿Y tú?');
  await ana.page.getByRole('button', { name: 'Send' }).click();
  await message(bob.page, 'Muy bien.').waitFor();
  assert.equal(await message(bob.page, 'Muy bien.').locator('.text').innerText(), 'Muy bien.\n¿Y tú?');
  assert.deepEqual(ana.page.errors, []);
  assert.deepEqual(bob.page.errors, []);
});

test('typing shows live, and a read message shows as read to its sender', async () => {
  const box = bob.page.getByRole('textbox', { name: 'Message' });
  await box.pressSequentially('escribiendo', { delay: 20 });
  await ana.page.getByText('bob is typing…').waitFor();
  await box.fill('');
  // Bob has the thread open, so Ana's last message is read.
  await message(ana.page, 'Muy bien.').locator('.state-read').waitFor();
  assert.equal(await message(ana.page, 'Muy bien.').locator('.state .visually-hidden').innerText(), 'Read');
  // And in the list: nothing unread for Bob.
  const row = bob.page.locator('.conv-list li', { has: bob.page.getByRole('link', { name: 'ana', exact: true }) });
  await row.waitFor();
  assert.equal(await row.locator('.badge').count(), 0);
});

test('reactions and quoted replies reach the other side', async () => {
  const theirs = message(bob.page, 'Muy bien.');
  await theirs.hover();
  await theirs.getByRole('button', { name: 'React' }).click();
  await bob.page.getByRole('menuitem', { name: 'React with 👍' }).click();
  await message(ana.page, 'Muy bien.').getByRole('button', { name: /^👍 1/ }).waitFor();

  const quoted = message(ana.page, 'Hola Ana');
  await quoted.hover();
  await quoted.getByRole('button', { name: 'Reply' }).click();
  await ana.page.getByText('Replying to bob').waitFor();
  await send(ana.page, 'Te respondo a esto');
  const reply = message(bob.page, 'Te respondo a esto');
  await reply.waitFor();
  assert.match(await reply.locator('.quote').innerText(), /Hola Ana, ¿qué tal\?/);
});

test('an uploaded picture shows as a thumbnail on both sides', async () => {
  await ana.page.locator('input[type=file]').setInputFiles({ name: 'gradient.png', mimeType: 'image/png', buffer: png() });
  await ana.page.getByText('Ready').waitFor();
  await ana.page.getByRole('button', { name: 'Send' }).click();
  const image = bob.page.getByRole('button', { name: 'Open image gradient.png' }).locator('img');
  await image.waitFor();
  await bob.page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await image.elementHandle());
  assert.match(await image.getAttribute('src'), /^blob:/);
  // The lightbox shows the full picture.
  await bob.page.getByRole('button', { name: 'Open image gradient.png' }).click();
  const dialog = bob.page.getByRole('dialog', { name: 'gradient.png' });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Close' }).click();
  await dialog.waitFor({ state: 'detached' });
});

test('a message request is accepted into the inbox', async () => {
  // Carol, a stranger, writes to Ana through the API.
  const carol = await server.register('carol', 'carol-long-secret-3', 'Carol');
  const conv = await server.api('POST', '/conversations', carol.token, { kind: 'direct', with: 'ana' });
  await server.api('POST', `/conversations/${conv.id}/messages`, carol.token, { client_txn_id: 'c1', text: 'Hi Ana, I am Carol' });
  const requests = ana.page.getByRole('button', { name: /^Requests/ });
  await requests.locator('.badge').waitFor();
  await requests.click();
  await conversationLink(ana.page, 'Carol').click();
  await message(ana.page, 'Hi Ana, I am Carol').waitFor();
  await ana.page.getByRole('button', { name: 'Accept', exact: true }).click();
  await ana.page.getByRole('region', { name: 'Message request' }).waitFor({ state: 'detached' });
  await ana.page.getByRole('button', { name: /^Inbox/ }).click();
  await conversationLink(ana.page, 'Carol').waitFor();
  const inbox = await server.api('GET', '/conversations?folder=inbox', await tokenOf(ana.page));
  assert.ok(inbox.conversations.some((c) => c.id === conv.id), 'accepted on the server too');
});

test('search finds a message and jumps to it', async () => {
  await ana.page.getByRole('searchbox', { name: 'Search' }).fill('respondo');
  const hit = ana.page.locator('.message-result').first();
  await hit.waitFor();
  assert.equal(await hit.locator('mark').first().innerText(), 'respondo');
  await hit.click();
  await message(ana.page, 'Te respondo a esto').and(ana.page.locator('.flash')).waitFor();
  await ana.page.getByRole('searchbox', { name: 'Search' }).fill('');
});

test('two-factor enrolment, then a login that needs a code', async () => {
  const page = ana.page;
  await page.getByRole('link', { name: 'Settings' }).click();
  await page.getByRole('link', { name: 'Security' }).click();
  await page.getByRole('button', { name: 'Set up two-factor authentication' }).click();
  await page.getByRole('img', { name: 'QR code to scan with your authenticator app' }).waitFor();
  const key = (await page.locator('code.secret').innerText()).trim();
  secret(key);
  const first = totp(key);
  await page.getByLabel('Code from the app').fill(first);
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
  await codes.first().waitFor();
  assert.equal(await codes.count(), 10);
  for (const code of await codes.allInnerTexts()) secret(code.trim());
  await page.getByRole('button', { name: 'I have saved them' }).click();
  await page.getByText('On: logging in needs a code').waitFor();

  await page.getByRole('button', { name: 'Log out' }).first().click();
  await page.getByLabel('Username').fill('ana');
  await page.getByLabel('Password').fill(PASSWORD_ANA);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByLabel('Two-factor code').waitFor();
  // The code that turned 2FA on cannot log in again; the next step's can.
  await page.getByLabel('Two-factor code').fill(totp(key, 1));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('searchbox', { name: 'Search' }).waitFor({ timeout: 5000 }).catch(async (err) => {
    throw new Error(`${err.message}; the page says: ${await page.getByRole('alert').allInnerTexts()}`);
  });
  secret(await tokenOf(page));
  await conversationLink(page, 'bob').click();
  await message(page, 'Te respondo a esto').waitFor();
});

test('switching to Spanish translates the page and its dates', async () => {
  const page = bob.page;
  await page.getByRole('combobox', { name: 'Language' }).selectOption('es');
  await page.getByRole('textbox', { name: 'Mensaje' }).waitFor();
  await page.getByRole('button', { name: 'Enviar' }).waitFor();
  await page.getByRole('searchbox', { name: 'Buscar' }).waitFor();
  await page.getByRole('link', { name: 'Personas' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'es');
  assert.ok(await page.getByRole('separator').filter({ hasText: 'Hoy' }).count() > 0, 'day separators in Spanish');
  // It sticks across a reload, then back to English.
  await page.reload();
  await page.getByRole('textbox', { name: 'Mensaje' }).waitFor();
  await page.getByRole('combobox', { name: 'Idioma' }).selectOption('en');
  await page.getByRole('textbox', { name: 'Message' }).waitFor();
});

test('after the server restarts, the page reconnects and nothing is lost', async () => {
  const anaToken = await tokenOf(ana.page);
  const bobToken = await tokenOf(bob.page);
  const convs = await server.api('GET', '/conversations', bobToken);
  const direct = convs.conversations.find((c) => c.kind === 'direct' && c.members.some((m) => m.username === 'ana'));

  await server.stop();
  await ana.page.getByRole('status').filter({ hasText: 'Offline' }).waitFor();
  // Written while the server is away: it fails, and is sent once the page is back.
  await ana.page.getByRole('textbox', { name: 'Message' }).fill('Escrito sin conexión');
  await ana.page.getByRole('textbox', { name: 'Message' }).press('Enter');
  await message(ana.page, 'Escrito sin conexión').locator('.state-failed').waitFor();

  await server.run();
  // Bob writes the moment the server is back, before Ana's page has reconnected: the
  // stream replays it from her cursor.
  await server.api('POST', `/conversations/${direct.id}/messages`, bobToken, { client_txn_id: 'after-restart', text: 'Ya estoy de vuelta' });
  await message(ana.page, 'Ya estoy de vuelta').waitFor();
  await message(ana.page, 'Escrito sin conexión').locator('.state-failed').waitFor({ state: 'detached' });
  await message(bob.page, 'Escrito sin conexión').waitFor();
  // Once each, on the server and on the page.
  const history = await server.api('GET', `/conversations/${direct.id}/messages?limit=200`, anaToken);
  assert.equal(history.messages.filter((m) => m.text === 'Escrito sin conexión').length, 1);
  assert.equal(history.messages.filter((m) => m.text === 'Ya estoy de vuelta').length, 1);
  assert.equal(await message(ana.page, 'Ya estoy de vuelta').count(), 1);
  assert.equal(await message(ana.page, 'Escrito sin conexión').count(), 1);
  // And live again both ways.
  await send(bob.page, 'Todo en orden');
  await message(ana.page, 'Todo en orden').waitFor();
});

test('at phone width the list and the thread are one screen each', async () => {
  const phone = await person(browser, server, { viewport: { width: 390, height: 844 } });
  await phone.page.goto('/');
  await phone.page.getByLabel('Username').fill('bob');
  await phone.page.getByLabel('Password').fill(PASSWORD_BOB);
  await phone.page.getByRole('button', { name: 'Log in' }).click();
  await conversationLink(phone.page, 'ana').click();
  await message(phone.page, 'Todo en orden').waitFor();
  assert.equal(await phone.page.getByRole('searchbox', { name: 'Search' }).isVisible(), false, 'the list is hidden in a thread');
  const width = await phone.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `no sideways scrolling (${width}px)`);
  await phone.page.getByRole('link', { name: 'Back' }).first().click();
  await phone.page.getByRole('searchbox', { name: 'Search' }).waitFor();
  secret(await tokenOf(phone.page));
  assert.deepEqual(phone.page.errors, []);
  await phone.context.close();
});

test('keyboard only: log in, open a conversation and send', async () => {
  const kb = await person(browser, server);
  const page = kb.page;
  await page.goto('/');
  // The username field has focus on arrival.
  await page.keyboard.type('bob');
  await page.keyboard.press('Tab');
  await page.keyboard.type(PASSWORD_BOB);
  await page.keyboard.press('Enter');
  await page.getByRole('searchbox', { name: 'Search' }).waitFor();
  secret(await tokenOf(page));
  // Tab until the conversation link has focus, then open it.
  for (let i = 0; i < 40; i += 1) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(() => document.activeElement?.textContent) === 'ana') break;
  }
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'ana');
  await page.keyboard.press('Enter');
  // Opening a conversation puts the cursor in its composer.
  await page.waitForFunction(() => document.activeElement?.getAttribute('aria-label') === 'Message');
  await page.keyboard.type('Solo con teclado');
  await page.keyboard.press('Enter');
  await message(ana.page, 'Solo con teclado').waitFor();
  // Focus is visible: the focused control has an outline.
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none');
  await kb.context.close();
  assert.deepEqual(ana.page.errors, []);
  assert.deepEqual(bob.page.errors, []);
});
