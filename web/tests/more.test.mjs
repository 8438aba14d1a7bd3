// More of issue 9: accessibility audits (axe-core, the checker browsers' own tools use)
// of the main screens in both languages and at both widths, and the smaller features:
// the emoji picker, audio and video players, presence dots, pinning, the display name,
// and logging in with a recovery code.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';
import { secret, smtpSink, totp, twilioStandIn, world } from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let w;
const open = (...args) => w.open(...args);
const api = (...args) => w.api(...args);

before(async () => {
  w = await world([['ana', 'Ana'], ['bob', 'Bob'], ['eve', 'Eve']], [['ana', 'bob']]);
});

after(async () => {
  await w?.close();
});
const log = (page) => page.getByRole('log').first();
const link = (page, name) => page.getByRole('link', { name, exact: true });

/** Runs axe on the page as it is; returns the violations of impact serious or critical. */
async function audit(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => window.axe.run(document, {
    runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
  }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')})`);
}

test('the main screens pass an accessibility audit in English and Spanish, on desktop and phone', async () => {
  const conv = await api('bob', 'POST', '/conversations', { kind: 'direct', with: 'ana' });
  for (const text of ['Hola', 'Did you see https://example.org?', '@ana ven']) {
    await api('bob', 'POST', `/conversations/${conv.id}/messages`, { client_txn_id: text, text });
  }
  await api('ana', 'PUT', `/messages/${(await api('ana', 'GET', `/conversations/${conv.id}/messages`)).messages[0].id}/reactions/${encodeURIComponent('❤️')}`);
  const findings = [];
  for (const locale of ['en-US', 'es-ES']) {
    for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
      const where = `${locale} ${viewport.width}px`;
      const login = await open('ana', { locale, viewport, signedIn: false });
      findings.push(...(await audit(login)).map((f) => `${where} login: ${f}`));
      await login.context().close();
      const page = await open('ana', { locale, viewport });
      assert.equal(await page.evaluate(() => document.documentElement.lang), locale.slice(0, 2));
      findings.push(...(await audit(page)).map((f) => `${where} list: ${f}`));
      await page.goto(`/#/c/${conv.id}`);
      await log(page).locator('article').nth(2).waitFor();
      findings.push(...(await audit(page)).map((f) => `${where} thread: ${f}`));
      for (const path of ['#/settings/profile', '#/settings/security', '#/settings/privacy', '#/people', '#/admin/users']) {
        await page.goto(`/${path}`);
        await page.locator('.page h2, .page .field').first().waitFor();
        await page.waitForTimeout(200);
        findings.push(...(await audit(page)).map((f) => `${where} ${path}: ${f}`));
      }
      assert.deepEqual(page.errors, []);
      await page.context().close();
    }
  }
  assert.deepEqual(findings, []);
});

test('the emoji picker writes into the composer', async () => {
  const page = await open('ana');
  await link(page, 'Bob').click();
  await page.getByRole('button', { name: 'Emoji' }).click();
  const picker = page.getByRole('dialog', { name: 'Emoji' });
  await picker.getByRole('button', { name: '🎉' }).click();
  await picker.waitFor({ state: 'detached' });
  assert.equal(await page.getByRole('textbox', { name: 'Message' }).inputValue(), '🎉');
  // Escape closes it without choosing.
  await page.getByRole('button', { name: 'Emoji' }).click();
  await page.keyboard.press('Escape');
  await picker.waitFor({ state: 'detached' });
  assert.equal(await page.getByRole('textbox', { name: 'Message' }).inputValue(), '🎉');
  await page.context().close();
});

/** A second of silence as a WAV file. */
function wav() {
  const samples = 8000;
  const buffer = Buffer.alloc(44 + samples);
  buffer.write('RIFF', 0);
  buffer.writeUInt32LE(36 + samples, 4);
  buffer.write('WAVEfmt ', 8);
  buffer.writeUInt32LE(16, 16);
  buffer.writeUInt16LE(1, 20); // PCM
  buffer.writeUInt16LE(1, 22); // mono
  buffer.writeUInt32LE(8000, 24);
  buffer.writeUInt32LE(8000, 28);
  buffer.writeUInt16LE(1, 32);
  buffer.writeUInt16LE(8, 34);
  buffer.write('data', 36);
  buffer.writeUInt32LE(samples, 40);
  buffer.fill(128, 44);
  return buffer;
}

test('audio arrives as a player', async () => {
  const ana = await open('ana');
  const bob = await open('bob');
  await link(ana, 'Bob').click();
  await link(bob, 'Ana').click();
  await ana.locator('input[type=file]').setInputFiles({ name: 'voice.wav', mimeType: 'audio/wav', buffer: wav() });
  await ana.getByText('Ready').waitFor();
  await ana.getByRole('button', { name: 'Send' }).click();
  const player = bob.locator('audio[aria-label="voice.wav"]');
  await player.waitFor();
  await bob.waitForFunction((el) => el.src.startsWith('blob:'), await player.elementHandle());
  // It plays: the browser reads its length from the file.
  await bob.waitForFunction(async (el) => { el.load(); await new Promise((r) => { el.onloadedmetadata = r; }); return el.duration > 0.9; }, await player.elementHandle());
  await ana.context().close();
  await bob.context().close();
});

test('presence dots, pinning and the display name', async () => {
  const ana = await open('ana');
  await api('eve', 'POST', '/conversations', { kind: 'direct', with: 'ana' })
    .then((c) => api('eve', 'POST', `/conversations/${c.id}/messages`, { client_txn_id: 'e1', text: 'hi from eve' }));
  // Bob comes online: his dot shows in Ana's list (and is said to screen readers).
  const bob = await open('bob');
  const bobLink = link(ana, 'Bob');
  const bobRow = ana.locator('.conv-list li', { has: bobLink });
  await bobRow.locator('.dot').waitFor();
  assert.match(await ana.locator(`#${await bobLink.getAttribute('aria-describedby')}`).innerText(), /Online/);
  await bob.context().close();
  await bobRow.locator('.dot').waitFor({ state: 'detached' });

  // Pinning puts a conversation first.
  const names = () => ana.locator('.conv-list a.conv-name').allInnerTexts();
  await bobLink.click();
  await ana.getByRole('button', { name: 'Conversation details' }).click();
  await ana.getByRole('button', { name: 'Pin', exact: true }).click();
  await ana.getByRole('button', { name: 'Unpin' }).waitFor();
  assert.equal((await names())[0], 'Bob');
  await ana.getByRole('button', { name: 'Unpin' }).click();
  await ana.getByRole('button', { name: 'Pin', exact: true }).waitFor();

  await ana.getByRole('link', { name: 'Settings' }).click();
  await ana.getByLabel('Display name').fill('Ana María');
  await ana.getByRole('button', { name: 'Save' }).first().click();
  await ana.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
  assert.equal((await api('ana', 'GET', '/me')).display_name, 'Ana María');
  await ana.context().close();
});

test('a recovery code logs in once', async () => {
  const enrol = await api('eve', 'POST', '/me/2fa');
  secret(enrol.secret);
  const { recovery_codes: codes } = await api('eve', 'POST', '/me/2fa/confirm', { code: totp(enrol.secret) });
  codes.forEach(secret);
  const page = await open('eve', { signedIn: false });
  const logIn = async (code) => {
    await page.getByLabel('Username').fill('eve');
    await page.getByLabel('Password').fill('eve-long-secret-0');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByLabel('Two-factor code').waitFor();
    await page.getByLabel('Two-factor code').fill(code);
    await page.getByRole('button', { name: 'Log in' }).click();
  };
  await logIn(codes[0].toUpperCase());
  await page.getByRole('searchbox', { name: 'Search' }).waitFor();
  secret(await page.evaluate(() => localStorage.getItem('hilo.token')));
  // A login from a new device (this browser, after the API's sign-up): the alert is a
  // notice in the Security conversation, marked with its channel, and it cannot be answered.
  await page.getByRole('link', { name: 'Security', exact: true }).click();
  const alert = page.getByRole('log').first().locator('article.system');
  await alert.locator('.channel-system').filter({ hasText: 'Notice' }).waitFor();
  assert.match(await alert.innerText(), /Chrome on Linux/);
  assert.equal(await page.getByRole('textbox', { name: 'Message' }).count(), 0);
  await page.getByText('You can’t reply in this conversation.').waitFor();
  await page.getByRole('button', { name: 'Log out' }).click();
  await logIn(codes[0]);
  await page.getByRole('alert').filter({ hasText: 'not valid (or was already used)' }).waitFor();
  await page.goto('/#/settings/security');
  await page.context().close();
  const status = await api('ana', 'GET', '/me/2fa');
  assert.equal(status.enabled, false, 'Ana never turned it on');
});

test('a mail from a stranger is a request marked Email, with its subject', async () => {
  await w.server.mail('lena@example.org', 'bob@localhost', [
    'From: Lena Ortiz <lena@example.org>',
    'To: bob@localhost',
    'Subject: Hello from afar',
    'Message-ID: <web-1@example.org>',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Hi Bob, this came by email.',
    '',
    'On Mon, Bob wrote:',
    '> an old line',
  ].join('\r\n'));
  const page = await open('bob');
  const requests = page.getByRole('button', { name: /^Requests/ });
  await requests.locator('.badge').waitFor();
  await requests.click();
  await page.getByRole('link', { name: 'Lena Ortiz', exact: true }).click();
  const mail = log(page).locator('article').filter({ hasText: 'Hi Bob, this came by email.' });
  await mail.waitFor();
  await mail.locator('.channel-email').filter({ hasText: 'Email' }).waitFor();
  await mail.locator('.subject').filter({ hasText: 'Subject: Hello from afar' }).waitFor();
  assert.doesNotMatch(await mail.innerText(), /an old line/, 'the quoted history is not shown');
  // The original has all of it.
  await mail.hover();
  await mail.getByRole('button', { name: 'More actions' }).click();
  await page.getByRole('menuitem', { name: 'View original' }).click();
  const original = page.getByRole('dialog', { name: 'View original' });
  await original.getByText('lena@example.org').waitFor();
  await original.getByText('> an old line', { exact: false }).waitFor();
  await original.getByRole('button', { name: 'Close' }).click();
  await original.waitFor({ state: 'detached' });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('someone is written to by email address, and the page shows how mailing went', async () => {
  const page = await open('eve');
  await page.goto('/#/people');
  const address = page.getByLabel('Write to an email address');
  await address.fill('not an address@');
  await page.getByRole('button', { name: 'Write', exact: true }).click();
  await page.getByRole('alert').filter({ hasText: 'not an email address' }).waitFor();
  await address.fill('Max@Example.org');
  await page.getByRole('button', { name: 'Write', exact: true }).click();
  const composer = page.getByRole('textbox', { name: 'Message' });
  await composer.fill('Hello Max, by email');
  await composer.press('Enter');
  // No relay in these tests: the mail waits in the queue, and the page says so.
  const mine = log(page).locator('article').filter({ hasText: 'Hello Max, by email' });
  await mine.locator('.delivery-queued').filter({ hasText: 'Email queued' }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('an outside address is proven with the code mailed to it, and a contact is blocked', async () => {
  const relay = await smtpSink();
  const z = await world([['zoe', 'Zoe']], [], { relay });
  try {
    const page = await z.open('zoe');
    await page.goto('/#/settings/profile');
    // This server texts nobody: no number can be added, and the page says so.
    const phones = page.getByRole('region', { name: 'Your phone numbers' });
    await phones.getByText('This server sends no text messages').waitFor();
    assert.equal(await phones.getByRole('button', { name: 'Send code' }).count(), 0);
    const emails = page.getByRole('region', { name: 'Your other email addresses' });
    await emails.getByRole('textbox', { name: 'Email address' }).fill('Zoe@Example.org');
    await emails.getByRole('button', { name: 'Send code' }).click();
    await emails.getByRole('status').filter({ hasText: 'A code is on its way to zoe@example.org' }).waitFor();
    const mail = relay.mails.at(-1);
    assert.deepEqual(mail.to, ['zoe@example.org']);
    const code = mail.data.match(/^Subject: .*: (\d{6})$/m)[1];
    await emails.getByText('Waiting for its code').waitFor();
    const box = emails.getByRole('textbox', { name: 'Code' });
    await box.fill(code === '000000' ? '111111' : '000000');
    await emails.getByRole('button', { name: 'Verify' }).click();
    await emails.getByRole('status').filter({ hasText: 'That code is not right.' }).waitFor();
    await box.fill(code);
    await emails.getByRole('button', { name: 'Verify' }).click();
    await emails.getByRole('status').filter({ hasText: 'zoe@example.org is verified' }).waitFor();
    await emails.getByText('Verified', { exact: true }).waitFor();
    const digest = emails.getByRole('checkbox', { name: 'Mail me what I miss while I am away' });
    assert.equal(await digest.isChecked(), true);
    await digest.uncheck();
    await emails.getByRole('status').filter({ hasText: 'zoe@example.org will get no digests' }).waitFor();
    assert.equal((await z.api('zoe', 'GET', '/me/emails')).emails[0].digest, false);

    // A stranger's mail is a request; blocking them there drops what they send next.
    const pest = (n) => ['From: Pest <pest@elsewhere.test>', 'To: zoe@localhost', `Subject: Offer ${n}`,
      `Message-ID: <pest-${n}@elsewhere.test>`, '', `Buy now (${n})`].join('\r\n');
    await z.server.mail('pest@elsewhere.test', 'zoe@localhost', pest(1));
    await page.goto('/#/');
    const requests = page.getByRole('button', { name: /^Requests/ });
    await requests.locator('.badge').waitFor();
    await requests.click();
    await page.getByRole('link', { name: 'Pest', exact: true }).click();
    await page.getByRole('region', { name: /request/i }).getByRole('button', { name: 'Block' }).click();
    await page.waitForURL(/#\/$/);
    await z.server.mail('pest@elsewhere.test', 'zoe@localhost', pest(2));
    const blocks = await z.api('zoe', 'GET', '/blocks');
    assert.deepEqual(blocks.addresses.map((b) => [b.address, b.dropped]), [['pest@elsewhere.test', 1]]);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  } finally {
    await z.close();
    await relay.close();
  }
});

test('a phone number is proven with a texted code, and a text shows its parts and how it went', async () => {
  const sms = await twilioStandIn();
  const t = await world([['tina', 'Tina']], [], { sms });
  try {
    const page = await t.open('tina');
    await page.goto('/#/settings/profile');
    const phones = page.getByRole('region', { name: 'Your phone numbers' });
    await phones.getByRole('textbox', { name: /^Phone number/ }).fill('+34 622 000 111');
    await phones.getByRole('button', { name: 'Send code' }).click();
    await phones.getByRole('status').filter({ hasText: 'A code is on its way to +34622000111' }).waitFor();
    const text = sms.texts.at(-1);
    assert.equal(text.To, '+34622000111');
    const code = text.Body.match(/^(\d{6}) /)[1];
    await phones.getByRole('textbox', { name: 'Code', exact: true }).fill(code);
    await phones.getByRole('button', { name: 'Verify' }).click();
    await phones.getByRole('status').filter({ hasText: '+34622000111 is verified' }).waitFor();
    await phones.getByText('Verified', { exact: true }).waitFor();

    // Writing to a number texts it; the page says it waits, then what it cost and how it
    // went (`é ó` are outside the GSM alphabet: UCS-2, still one part).
    await page.goto('/#/people');
    await page.getByLabel('Write to an email address or phone number').fill('+34 611 000 222');
    await page.getByRole('button', { name: 'Write', exact: true }).click();
    const composer = page.getByRole('textbox', { name: 'Message' });
    await composer.fill('¿Llegas a las nueve? Te espero en la estación');
    await composer.press('Enter');
    const mine = page.locator('article').filter({ hasText: '¿Llegas a las nueve?' });
    await mine.locator('.delivery-queued').filter({ hasText: 'Text queued' }).waitFor();
    const parts = mine.locator('.sms-parts').filter({ hasText: '1 SMS part' });
    await parts.waitFor();
    assert.match(await parts.getAttribute('title'), /outside the GSM alphabet/);
    const sent = sms.texts.at(-1);
    assert.equal(sent.To, '+34611000222');
    assert.equal(sent.From, sms.number);
    // Twilio reports it delivered: the page shows it live.
    const params = { MessageSid: `SM${String(sms.texts.length).padStart(32, '0')}`, AccountSid: sms.account, MessageStatus: 'delivered', To: sent.To, From: sent.From };
    const url = sent.StatusCallback;
    const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': sms.sign(url, params) }, body: new URLSearchParams(params) });
    assert.equal(r.status, 204);
    await mine.locator('.delivery-delivered').filter({ hasText: 'Text delivered' }).waitFor();
    assert.deepEqual(page.errors, []);
  } finally {
    await t.close();
    await sms.close();
  }
});
