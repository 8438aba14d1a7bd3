// The rest of the web client, feature by feature (issue 9): groups, editing and deleting,
// forwarding, places, history paging, files by drop and paste, retries that never
// duplicate, notifications and the title, settings, people, and the admin pages. People
// are made through the API and their pages start signed in (sign-up and log-in through
// the page are e2e.test.mjs's).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { png, world } from './harness.mjs';

let w;
let server;
let people;
const open = (...args) => w.open(...args);
const api = (...args) => w.api(...args);

before(async () => {
  // Ana is the first account: the server's admin. Ana, Bob and Carol are friends.
  w = await world([['ana', 'Ana'], ['bob', 'Bob'], ['carol', 'Carol'], ['dan', 'Dan']], [['ana', 'bob'], ['ana', 'carol'], ['bob', 'carol']]);
  ({ server, people } = w);
});

after(async () => {
  await w?.close();
});

/** Polls `check` (an async function returning a truthy value when done) for up to 10 s. */
async function eventually(check, what) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const log = (page) => page.getByRole('log', { name: 'Messages' });
const message = (page, text) => log(page).locator('article').filter({ hasText: text });
const link = (page, name) => page.getByRole('link', { name, exact: true });

async function send(page, text) {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await message(page, text).locator('.state-sending').waitFor({ state: 'detached' });
}

async function openActions(page, text, action) {
  const msg = message(page, text).first();
  await msg.hover();
  await msg.getByRole('button', { name: 'More actions' }).click();
  await page.getByRole('menuitem', { name: action }).click();
}

async function direct(a, b) {
  return api(a, 'POST', '/conversations', { kind: 'direct', with: b });
}

test('groups: create, rename, add and remove members, mention, leave', async () => {
  const ana = await open('ana');
  const bob = await open('bob');
  const carol = await open('carol');
  await ana.getByRole('button', { name: 'New group' }).click();
  const dialog = ana.getByRole('dialog', { name: 'New group' });
  await dialog.getByLabel('Group name').fill('Trip');
  await dialog.getByLabel('Members').fill('bob, carol');
  await dialog.getByRole('button', { name: 'Create group' }).click();
  await ana.getByRole('heading', { name: 'Trip', level: 1 }).waitFor();
  await link(bob, 'Trip').waitFor();

  await ana.getByRole('button', { name: 'Conversation details' }).click();
  await ana.getByLabel('Group name').fill('Big trip');
  await ana.getByRole('button', { name: 'Rename' }).click();
  await link(bob, 'Big trip').waitFor();
  // A username and an email address: Dan's account, and someone who gets the group's
  // messages by mail.
  await ana.getByLabel('Add people').fill('dan, Erin@Example.org');
  await ana.getByRole('button', { name: 'Add', exact: true }).click();
  await ana.getByRole('heading', { name: 'Members (5)' }).waitFor();
  await ana.getByRole('listitem').filter({ hasText: 'erin@example.org' }).waitFor();
  await ana.getByRole('button', { name: 'Remove Dan' }).click();
  await ana.getByRole('heading', { name: 'Members (4)' }).waitFor();
  await ana.getByRole('button', { name: 'Remove erin@example.org' }).click();
  await ana.getByRole('heading', { name: 'Members (3)' }).waitFor();

  // @mention completion: "@ca" offers Carol; Enter picks her.
  const box = ana.getByRole('textbox', { name: 'Message' });
  await box.pressSequentially('hola @ca');
  await ana.getByRole('option', { name: /Carol/ }).waitFor();
  await box.press('Enter');
  assert.equal(await box.inputValue(), 'hola @carol ');
  await box.press('Enter');
  await link(carol, 'Big trip').click();
  await message(carol, 'hola @carol').locator('.mention-me').waitFor();
  // Carol has read it: her small avatar shows under it for Ana.
  await message(ana, 'hola @carol').getByRole('img', { name: 'Seen by Carol' }).waitFor();

  await link(bob, 'Big trip').click();
  await bob.getByRole('button', { name: 'Conversation details' }).click();
  await bob.getByRole('button', { name: 'Leave group' }).click();
  await bob.getByRole('dialog', { name: 'Leave group' }).getByRole('button', { name: 'Leave group' }).click();
  await link(bob, 'Big trip').waitFor({ state: 'detached' });
  await ana.getByRole('heading', { name: 'Members (2)' }).waitFor();
  for (const page of [ana, bob, carol]) {
    assert.deepEqual(page.errors, []);
    await page.context().close();
  }
});

test('a message goes from sent to delivered to read', async () => {
  await direct('ana', 'carol');
  const ana = await open('ana');
  await link(ana, 'Carol').click();
  // Carol has no page open: sent, not delivered.
  await send(ana, 'are you there?');
  const state = () => message(ana, 'are you there?').locator('.state .visually-hidden').innerText();
  assert.equal(await state(), 'Sent');
  // With her page open elsewhere, her stream hands the next one out: delivered (both,
  // since receipts cover everything up to a message).
  const carol = await open('carol');
  await carol.getByRole('link', { name: 'People' }).click();
  await send(ana, 'now?');
  await message(ana, 'now?').locator('.state-delivered').waitFor();
  assert.equal(await message(ana, 'now?').locator('.state .visually-hidden').innerText(), 'Delivered');
  assert.equal(await state(), 'Delivered');
  // She opens the conversation: read.
  await carol.getByRole('link', { name: 'Chats' }).click();
  await link(carol, 'Ana').click();
  await message(ana, 'now?').locator('.state-read').waitFor();
  assert.equal(await state(), 'Read');
  await ana.context().close();
  await carol.context().close();
});

test('edit, delete for me and for everyone, forward, and share a place', async () => {
  const conv = await direct('ana', 'bob');
  const ana = await open('ana');
  const bob = await open('bob');
  await link(ana, 'Bob').click();
  await link(bob, 'Ana').click();

  await send(ana, 'tpyo here');
  await message(bob, 'tpyo here').waitFor();
  await openActions(ana, 'tpyo here', 'Edit');
  await ana.getByText('Editing message').waitFor();
  await ana.getByRole('textbox', { name: 'Message' }).fill('typo fixed');
  await ana.getByRole('textbox', { name: 'Message' }).press('Enter');
  await message(bob, 'typo fixed').getByText('edited').waitFor();
  // The up arrow in an empty composer edits one's last message.
  await ana.getByRole('textbox', { name: 'Message' }).press('ArrowUp');
  assert.equal(await ana.getByRole('textbox', { name: 'Message' }).inputValue(), 'typo fixed');
  await ana.getByRole('button', { name: 'Cancel editing' }).click();

  await send(ana, 'to be unsaid');
  await message(bob, 'to be unsaid').waitFor();
  await openActions(ana, 'to be unsaid', 'Delete for everyone');
  await ana.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await message(bob, 'This message was deleted').waitFor();
  await message(bob, 'to be unsaid').waitFor({ state: 'detached' });

  await openActions(bob, 'typo fixed', 'Delete for me');
  await message(bob, 'typo fixed').waitFor({ state: 'detached' });
  assert.equal(await message(ana, 'typo fixed').count(), 1, 'still there for Ana');

  // Forward into the group Ana and Carol share.
  const group = await api('ana', 'POST', '/conversations', { kind: 'group', name: 'Forwards', members: ['carol'] });
  await openActions(ana, 'typo fixed', 'Forward');
  await ana.getByRole('dialog', { name: 'Forward to…' }).getByRole('button', { name: 'Forwards' }).click();
  await eventually(async () => (await api('carol', 'GET', `/conversations/${group.id}/messages`)).messages
    .some((m) => m.text === 'typo fixed' && m.forwarded), 'the forward reaches the group');

  await ana.getByRole('button', { name: 'Share a location' }).click();
  const place = ana.getByRole('dialog', { name: 'Share a location' });
  await place.getByLabel('Place name (optional)').fill('Puerta del Sol');
  await place.getByLabel('Latitude').fill('40.4168');
  await place.getByLabel('Longitude').fill('-3.7038');
  await place.getByRole('button', { name: 'Share' }).click();
  const where = bob.getByRole('link', { name: 'Puerta del Sol' });
  await where.waitFor();
  assert.match(await where.getAttribute('href'), /openstreetmap\.org\/\?mlat=40\.4168&mlon=-3\.7038/);
  const history = await api('bob', 'GET', `/conversations/${conv.id}/messages`);
  assert.deepEqual(history.messages.at(-1).location, { lat: 40.4168, lon: -3.7038, label: 'Puerta del Sol' });
  assert.deepEqual(ana.errors, []);
  assert.deepEqual(bob.errors, []);
  await ana.context().close();
  await bob.context().close();
});

test('scrolling back loads the whole history, once each', async () => {
  const conv = await direct('bob', 'carol');
  for (let i = 1; i <= 130; i += 1) {
    await api('bob', 'POST', `/conversations/${conv.id}/messages`, { client_txn_id: `n${i}`, text: `number ${i}` });
  }
  const carol = await open('carol');
  await link(carol, 'Bob').click();
  await message(carol, 'number 130').waitFor();
  assert.equal(await log(carol).locator('article').count(), 50, 'one page at first');
  for (let i = 0; i < 20 && await carol.getByText('This is the beginning of the conversation.').count() === 0; i += 1) {
    await log(carol).evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event('scroll')); });
    await carol.waitForTimeout(150);
  }
  await log(carol).getByRole('article', { name: 'Bob: number 1', exact: true }).waitFor();
  assert.equal(await log(carol).locator('article').count(), 130);
  assert.equal(await log(carol).getByRole('article', { name: 'Bob: number 77', exact: true }).count(), 1);
  await carol.context().close();
});

test('files by drop and by paste, with progress, as thumbnails and file cards', async () => {
  await direct('ana', 'carol');
  const ana = await open('ana');
  const carol = await open('carol');
  await link(ana, 'Carol').click();
  await link(carol, 'Ana').click();
  const bytes = [...png(40, 30)];
  // Dropped on the thread, as a file from the desktop.
  await ana.evaluate((data) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(data)], 'dropped.png', { type: 'image/png' }));
    const target = document.querySelector('.thread');
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, bytes);
  // Pasted into the composer.
  await ana.getByRole('textbox', { name: 'Message' }).evaluate((box) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(['meeting notes\n'], 'notes.txt', { type: 'text/plain' }));
    box.dispatchEvent(new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true }));
  });
  const uploads = ana.getByRole('list', { name: 'Files to send' }).getByRole('listitem');
  assert.equal(await uploads.count(), 2);
  await ana.getByRole('progressbar', { name: 'Uploading dropped.png' }).waitFor();
  await uploads.getByText('Ready').nth(1).waitFor();
  await ana.getByRole('textbox', { name: 'Message' }).fill('two files');
  await ana.getByRole('button', { name: 'Send' }).click();
  await carol.getByRole('button', { name: 'Open image dropped.png' }).locator('img[src^="blob:"]').waitFor();
  const card = message(carol, 'two files').locator('.file-card');
  assert.match(await card.innerText(), /notes\.txt/);
  const [download] = await Promise.all([carol.waitForEvent('download'), card.getByRole('button', { name: 'Download' }).click()]);
  assert.equal(download.suggestedFilename(), 'notes.txt');
  await ana.context().close();
  await carol.context().close();
});

test('a failed send is retried under the same client_txn_id, and never shows or stores twice', async () => {
  const conv = await direct('ana', 'dan');
  const ana = await open('ana');
  await link(ana, 'Dan').click();
  const box = ana.getByRole('textbox', { name: 'Message' });
  // The request never reaches the server: "Not sent", with Retry.
  let mode = 'drop';
  await ana.route('**/api/v1/conversations/*/messages', async (route) => {
    if (route.request().method() !== 'POST' || mode === 'pass') {
      await route.continue();
    } else if (mode === 'drop') {
      await route.abort('connectionreset');
    } else {
      // It reaches the server, but the answer is lost on the way back.
      await route.fetch();
      await route.abort('connectionreset');
    }
  });
  await box.fill('first try fails');
  await box.press('Enter');
  const failed = message(ana, 'first try fails');
  await failed.getByText('Not sent').first().waitFor();
  mode = 'lost';
  await failed.getByRole('button', { name: 'Retry' }).click();
  // Stored by that retry; its answer lost, the event of it still matches the pending
  // message by client_txn_id, so the page shows it once, as sent.
  await failed.locator('.state-failed, .state-sending').waitFor({ state: 'detached' });
  mode = 'pass';
  await eventually(async () => (await api('dan', 'GET', `/conversations/${conv.id}/messages`)).messages.length === 1, 'stored');
  await ana.waitForTimeout(300);
  const stored = (await api('dan', 'GET', `/conversations/${conv.id}/messages`)).messages;
  assert.deepEqual(stored.map((m) => m.text), ['first try fails']);
  assert.equal(await message(ana, 'first try fails').count(), 1);
  await ana.context().close();
});

test('desktop notifications while hidden follow mute and notify levels; the title counts unread', async () => {
  const conv = await direct('bob', 'ana');
  const ana = await open('ana', {
    init: () => {
      // The tab is in the background, and notifications are allowed: record them.
      Object.defineProperty(document, 'visibilityState', { get: () => 'hidden' });
      window.shown = [];
      window.Notification = class {
        static permission = 'granted';
        static requestPermission() { return Promise.resolve('granted'); }
        constructor(title, options) { window.shown.push({ title, body: options.body }); }
        close() {}
      };
    },
  });
  const say = (text) => api('bob', 'POST', `/conversations/${conv.id}/messages`, { client_txn_id: `${text}-${Date.now()}`, text });
  const shown = () => ana.evaluate(() => window.shown.map((n) => n.body));
  const before = await ana.evaluate(() => document.title);
  await say('ping one');
  await ana.waitForFunction(() => window.shown.length === 1);
  assert.deepEqual(await shown(), ['ping one']);
  await ana.waitForFunction((t) => document.title !== t && /^\(\d+\) hilo$/.test(document.title), before);

  // Muted for an hour: nothing shows.
  await link(ana, 'Bob').click();
  await ana.getByRole('button', { name: 'Conversation details' }).click();
  await ana.getByLabel('Mute', { exact: true }).selectOption('1h');
  await eventually(async () => (await api('ana', 'GET', `/conversations/${conv.id}`)).muted_until, 'muted');
  await say('ping muted');
  await message(ana, 'ping muted').waitFor();
  // Unmuted, mentions only: a plain message is silent, a mention is not.
  await ana.getByLabel('Mute', { exact: true }).selectOption('off');
  await ana.getByLabel('Notify me about').selectOption('mentions');
  await eventually(async () => {
    const settings = await api('ana', 'GET', `/conversations/${conv.id}`);
    return settings.notify === 'mentions' && settings.muted_until === null;
  }, 'unmuted, mentions only');
  await say('ping plain');
  await message(ana, 'ping plain').waitFor();
  const group = await api('bob', 'POST', '/conversations', { kind: 'group', name: 'Mentions', members: ['ana'] });
  await api('ana', 'PATCH', `/conversations/${group.id}/settings`, { notify: 'mentions' });
  await say('ping @ana');
  await message(ana, 'ping @ana').waitFor();
  await ana.waitForFunction(() => window.shown.length === 2);
  assert.deepEqual(await shown(), ['ping one', 'ping @ana']);
  await ana.context().close();
});

test('settings: privacy, sessions with revoke, data download, account deletion', async () => {
  const ana = await open('ana');
  await ana.getByRole('link', { name: 'Settings' }).click();
  await ana.getByRole('link', { name: 'Privacy' }).click();
  await ana.getByLabel('Who can message me').selectOption('friends');
  await ana.getByLabel('Who sees when I’m online').selectOption('nobody');
  await ana.getByLabel('Send and see read receipts').uncheck();
  await ana.getByRole('button', { name: 'Save' }).click();
  await ana.getByRole('status').filter({ hasText: 'Saved' }).waitFor();
  const me = await api('ana', 'GET', '/me');
  assert.deepEqual(me.settings, { who_can_message: 'friends', last_seen_visibility: 'nobody', read_receipts: false });
  await api('ana', 'PATCH', '/me', { settings: { who_can_message: 'everyone', last_seen_visibility: 'everyone', read_receipts: true } });

  // A second session (another device) shows in the list and is ended from here.
  const other = await server.api('POST', '/sessions', undefined, { username: 'ana', password: 'ana-long-secret-0', device_name: 'Old laptop' });
  await ana.getByRole('link', { name: 'Security' }).click();
  await ana.getByRole('button', { name: 'Log out Old laptop' }).click();
  await ana.getByRole('button', { name: 'Log out Old laptop' }).waitFor({ state: 'detached' });
  const gone = await fetch(`${server.base}/api/v1/me`, { headers: { authorization: `Bearer ${other.token}` } });
  assert.equal(gone.status, 401);
  await ana.getByRole('heading', { name: 'Security log' }).waitFor();
  await ana.getByText('Session logged out').first().waitFor();

  const [download] = await Promise.all([ana.waitForEvent('download'), ana.getByRole('button', { name: 'Download my data' }).click()]);
  assert.equal(download.suggestedFilename(), 'hilo-ana.zip');
  const head = await (await import('node:fs/promises')).readFile(await download.path());
  assert.equal(head.subarray(0, 2).toString(), 'PK', 'a zip archive');
  await ana.context().close();

  // Deleting an account (a throwaway one) signs out and frees the name.
  people.zoe = await server.register('zoe', 'zoe-long-secret-0', 'Zoe');
  const zoe = await open('zoe');
  await zoe.goto('/#/settings/security');
  await zoe.getByText('Delete account').click();
  await zoe.getByLabel('Password', { exact: true }).fill('zoe-long-secret-0');
  await zoe.getByRole('button', { name: 'Delete my account' }).click();
  await zoe.getByRole('dialog').getByRole('button', { name: 'Delete my account' }).click();
  await zoe.getByRole('button', { name: 'Sign up' }).waitFor();
  const lookup = await fetch(`${server.base}/api/v1/users/zoe`, { headers: { authorization: `Bearer ${people.bob.token}` } });
  assert.equal(lookup.status, 404);
  await zoe.context().close();
});

test('people and moderation: requests, block, report, and the admin pages', async () => {
  const dan = await open('dan');
  const ana = await open('ana');
  // Dan, a stranger, asks Ana to be friends; Ana sees it live and accepts from the profile.
  await dan.getByRole('link', { name: 'People' }).click();
  await dan.getByLabel('Find people').fill('ana');
  await dan.getByRole('button', { name: 'Add friend' }).click();
  await ana.getByRole('link', { name: 'People' }).click();
  await ana.getByRole('link', { name: /Dan @dan/ }).click();
  await ana.getByText('Wants to be your friend').waitFor();
  await ana.getByRole('button', { name: 'Accept request' }).click();
  await ana.getByText('Friends', { exact: true }).waitFor();
  await ana.getByRole('button', { name: 'Unfriend' }).click();
  await ana.getByRole('dialog').getByRole('button', { name: 'Unfriend' }).click();
  await ana.getByText('Not friends').waitFor();

  // Block, and unblock from the People page.
  await ana.getByRole('button', { name: 'Block' }).click();
  await ana.getByText('Blocked', { exact: true }).waitFor();
  const blocks = await api('ana', 'GET', '/blocks');
  assert.deepEqual(blocks.blocked.map((u) => u.username), ['dan']);
  await ana.getByRole('link', { name: 'People' }).click();
  await ana.getByRole('heading', { name: 'Blocked' }).waitFor();
  await ana.getByRole('button', { name: 'Unblock' }).click();
  await ana.getByText('You have not blocked anyone.').waitFor();

  // Dan reports Carol; Ana, the admin, dismisses it from the queue.
  await dan.goto('/#/u/carol');
  await dan.getByRole('button', { name: 'Report' }).click();
  await dan.getByLabel('Reason').fill('rude to me');
  await dan.getByRole('button', { name: 'Send report' }).click();
  await dan.getByText('The administrators will look at it').waitFor();
  await ana.getByRole('link', { name: 'Admin' }).click();
  const report = ana.locator('.report-list li').filter({ hasText: 'rude to me' });
  await report.waitFor();
  await report.getByRole('button', { name: 'Dismiss' }).click();
  await report.waitFor({ state: 'detached' });

  await ana.getByRole('link', { name: 'Invites' }).click();
  await ana.getByRole('button', { name: 'Create invite code' }).click();
  await ana.getByText('Invite code:').waitFor();

  await ana.getByRole('link', { name: 'Users' }).click();
  await ana.getByLabel('Find accounts').fill('dan');
  const row = ana.locator('.people-list li').filter({ hasText: '@dan' });
  await row.getByRole('button', { name: 'Suspend' }).click();
  await row.getByText('suspended').waitFor();
  // Dan's page is signed out by the suspension.
  await dan.getByRole('button', { name: 'Log in' }).waitFor();
  await row.getByRole('button', { name: 'Restore' }).click();
  await row.getByRole('button', { name: 'Suspend' }).waitFor();
  people.dan = await server.api('POST', '/sessions', undefined, { username: 'dan', password: 'dan-long-secret-0' });
  // A non-admin has no Admin link.
  assert.equal(await dan.getByRole('link', { name: 'Admin' }).count(), 0);
  await ana.context().close();
  await dan.context().close();
});

test('message requests: declined, then the stranger blocked from the request', async () => {
  const conv = await direct('dan', 'carol');
  await api('dan', 'POST', `/conversations/${conv.id}/messages`, { client_txn_id: 'first', text: 'hello there' });
  const carol = await open('carol');
  const requests = carol.getByRole('button', { name: /^Requests/ });
  await requests.click();
  await link(carol, 'Dan').click();
  await carol.getByRole('region', { name: 'Message request' }).getByRole('button', { name: 'Decline' }).click();
  await link(carol, 'Dan').waitFor({ state: 'detached' });
  // Dan writes again: the request comes back, live, with only the new message.
  await api('dan', 'POST', `/conversations/${conv.id}/messages`, { client_txn_id: 'again', text: 'one more thing' });
  await requests.click();
  await link(carol, 'Dan').click();
  await message(carol, 'one more thing').waitFor();
  assert.equal(await message(carol, 'hello there').count(), 0);
  await carol.getByRole('region', { name: 'Message request' }).getByRole('button', { name: 'Block' }).click();
  await link(carol, 'Dan').waitFor({ state: 'detached' });
  const blocks = await api('carol', 'GET', '/blocks');
  assert.deepEqual(blocks.blocked.map((u) => u.username), ['dan']);
  assert.deepEqual(carol.errors, []);
  await carol.context().close();
});
