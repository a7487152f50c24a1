/* The web kiosk (/kiosk/{device}): the office's survey in a tablet's browser, the same survey and
   the same events as the MicroPython touch kiosk (edge_hub/WEBKIOSK.md, "The page").

   - Survey: a faithful port of firmware/lib/otk/survey.py (the states, show_if, critic_help, the
     call back with consent and keypad, idle_s, THANKS_MS, lockout_ms -> repeat, session ids,
     dwell_ms, choice -> option id, configure() while busy = pending); its fixed wording is
     firmware/kiosk/screens.py's STRINGS, its layouts those of screens.py.
   - Outbox: every answer gets its identity here (inc drawn once per storage, boot +1 per page
     load, seq 1, 2, … per boot, up = performance.now(), ts = Date.now()) and is written to
     IndexedDB (the seq and the event in one transaction, awaited until complete) BEFORE the
     screen moves on. The sender posts the outbox oldest first, at most 100 a request, one request
     at a time; it drops what the hub acked or refused and keeps everything on a 503 or a network
     error (backoff 1 s .. 10 s, and at once when the hub answers again).
   - Heartbeat at load and every 60 s; the config polled every 5 s with If-None-Match, kept in
     IndexedDB so a reload without the hub still has the survey.
   - The token comes in the link's fragment (#t=otkw_…), is kept in IndexedDB and the fragment
     removed; every call sends it as a bearer token. 401: this kiosk was revoked (the outbox is
     kept, no more answers are taken).
   - A service worker (/kiosk-sw.js) keeps the shell for reloads while offline (secure contexts
     only: https or localhost).
   The phone number typed is held in the survey's own array, wiped when the keypad closes; it is
   never logged and goes only into its one event (in the outbox until the hub acks it). */
(() => {
  'use strict';

  const root = document.getElementById('kiosk');
  if (!root) return;
  const DEVICE = root.dataset.device;
  const FW = root.dataset.fw || 'otk-web';
  const SW_URL = root.dataset.sw;
  const SW_SCOPE = root.dataset.swScope;
  const SHELL = JSON.parse(root.dataset.shell || '[]');
  const API = '/api/v1/kiosk/' + encodeURIComponent(DEVICE);
  const CACHE = 'otk-kiosk-v1';  // the service worker's (sw.js)

  const TICK_MS = 250;
  const CONFIG_POLL_MS = 5000;
  const STATUS_MS = 60000;
  const SEND_EVERY_MS = 15000;
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const REQUEST_TIMEOUT_MS = 15000;
  const MAX_EVENTS = 100;

  // --- the survey engine: firmware/lib/otk/survey.py ------------------------------------------

  const WELCOME = 'welcome';
  const QUESTION = 'question';
  const HELP = 'help';
  const CALLBACK = 'callback';
  const CONSENT = 'consent';
  const PHONE = 'phone';
  const THANKS = 'thanks';
  // scale -> [lowest, highest, [negative band]]: the hub's edge_hub/metrics/formulas.py SCALES
  const SCALES = {
    csat5: [1, 5, [1, 2]],
    nps11: [0, 10, [0, 6]],
    ces7: [1, 7, [1, 3]],
    yesno: [0, 1, [0, 0]],
    agree11: [0, 10, [0, 4]],
  };
  const HELP_QUESTION = 'help';
  const CALLBACK_QUESTION = 'callback';
  const PHONE_MIN = 7;  // ^\+?[0-9]{7,15}$
  const PHONE_MAX = 15;
  const IDLE_S = 30;
  const THANKS_MS = 4000;
  const SESSION_CHARS = '0123456789abcdefghijklmnopqrstuvwxyz';

  function newSession() {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    let out = '';
    for (const b of bytes) out += SESSION_CHARS[b % 36];
    return out;
  }

  function textOf(texts, lang) {
    if (!texts) return '';
    return texts[lang] || texts.ru || '';
  }

  function valuesOf(question) {
    const scale = question.scale;
    const out = [];
    if (scale === 'choice') {
      const n = (question.options || []).length;
      for (let v = 1; v <= n; v++) out.push(v);
      return out;
    }
    const [low, high] = SCALES[scale];
    for (let v = low; v <= high; v++) out.push(v);
    return out;
  }

  function isNegative(question, value) {
    const scale = SCALES[question.scale];
    return scale !== undefined && scale[2][0] <= value && value <= scale[2][1];
  }

  function phoneNumber(digits) {
    const n = digits.length;
    if (!n) return '';
    const first = digits[0];
    if (first === '7') return '+' + digits;
    if (first === '8') return n === 11 ? '+7' + digits.slice(1) : digits;
    return n <= 10 ? '+7' + digits : '+' + digits;
  }

  const clockMs = () => Math.floor(performance.now());

  class Survey {
    constructor(config, record, { clock = clockMs, session = newSession, phone = true } = {}) {
      this.record = record;  // async: resolves once the event is in the outbox
      this.phone = phone;
      this._digits = new Array(PHONE_MAX).fill('');  // the number being typed; wiped when the keypad closes
      this._n = 0;
      this.clock = clock;
      this.newSession = session;
      this.state = WELCOME;
      this.lang = 'ru';
      this.session = null;
      this.index = -1;
      this.answers = {};
      this.repeat = false;
      this.shownAt = 0;
      this.touchedAt = 0;
      this.endedAt = null;
      this.completed = 0;
      this.abandoned = 0;
      this._pending = null;
      this.configure(config);
    }

    configure(config) {
      if (this.busy()) {
        this._pending = config;
        return;
      }
      this._pending = null;
      const get = (k) => (config ? config[k] : undefined);
      this.questions = get('questions') || [{ id: get('question') || 'csat', text: {}, scale: 'csat5' }];
      this.welcome = get('welcome');
      this.thanks = get('thanks');
      this.langs = get('langs') || [get('lang') || 'ru'];
      this.defaultLang = get('lang') || this.langs[0];
      this.idleMs = (get('idle_s') || IDLE_S) * 1000;
      this.lockoutMs = get('lockout_ms') || 0;
      this.criticHelp = Boolean(get('critic_help'));
      this.offersCallback = Boolean(get('callback'));
    }

    get pending() { return this._pending !== null; }

    busy() { return this.state !== WELCOME && this.state !== THANKS; }

    screen() {
      const lang = this.lang;
      if (this.state === WELCOME) {
        return [WELCOME, { text: textOf(this.welcome, this.defaultLang), langs: this.langs }];
      }
      if (this.state === QUESTION) {
        const q = this.questions[this.index];
        let labels = null;
        if (q.scale === 'choice') labels = (q.options || []).map((o) => textOf(o.text, lang));
        return [QUESTION, {
          id: q.id, text: textOf(q.text, lang), scale: q.scale, values: valuesOf(q), labels,
          number: this._number(), total: this._total(),
        }];
      }
      if (this.state === HELP) return [HELP, { main: this.answers[this.questions[0].id] }];
      if (this.state === PHONE) return [PHONE, { digits: this._typed(), ok: PHONE_MIN <= this._n }];
      if (this.state === CALLBACK || this.state === CONSENT) return [this.state, {}];
      return [THANKS, { text: textOf(this.thanks, lang) }];
    }

    _asked(i) {
      const cond = this.questions[i].show_if;
      if (!cond) return true;
      const given = this.answers[cond.question];
      return given !== undefined && (cond.values || []).includes(given);
    }

    _number() {
      let n = 1;
      for (let i = 0; i < this.index; i++) if (this.questions[i].id in this.answers) n++;
      return n;
    }

    _total() {
      let n = this._number();
      for (let i = this.index + 1; i < this.questions.length; i++) if (this._asked(i)) n++;
      return n;
    }

    _typed() { return this._digits.slice(0, this._n).join(''); }

    async act(action) {
      if (!action) return false;
      const [kind, arg] = action;
      if (kind === 'answer') return this.answer(arg);
      if (kind === 'key') return this.key(arg);
      if (kind === 'begin') return this.begin(arg);
      if (kind === 'help') return this.help(arg);
      if (kind === 'callback') return this._reply(CALLBACK, arg, CONSENT);
      if (kind === 'consent') return this._reply(CONSENT, arg, PHONE);
      if (kind === 'phone') {
        if (arg === 'done') return this.phoneDone();
        if (arg === 'cancel') return this._reply(PHONE, false, null);
      }
      return false;
    }

    begin(lang) {
      if (this.state !== WELCOME) return false;
      const now = this.clock();
      this.lang = this.langs.includes(lang) ? lang : this.defaultLang;
      this.session = this.newSession();
      this.answers = {};
      this.repeat = this.endedAt !== null && now - this.endedAt < this.lockoutMs;
      this.index = -1;
      this._next(now);
      return true;
    }

    async answer(value) {
      if (this.state !== QUESTION) return false;
      const q = this.questions[this.index];
      if (!valuesOf(q).includes(value)) return false;
      const now = this.clock();
      const body = {
        type: 'press',
        question: q.id,
        value,
        session: this.session,
        dwell_ms: Math.max(0, now - this.shownAt),
        repeat: this.repeat,
      };
      if (q.scale === 'choice') body.option = q.options[value - 1].id;
      await this.record(body);  // in the outbox before anything else happens
      this.answers[q.id] = value;
      if (this._pending !== null) {  // a new survey came: nothing more of the old one
        this._end(now, false, THANKS);
        return true;
      }
      if (this.index === 0 && isNegative(q, value)) {
        if (this.criticHelp) {
          this._show(HELP, now);
          return true;
        }
        if (this._callsBack()) {
          this._show(CALLBACK, now);
          return true;
        }
      }
      this._next(now);
      return true;
    }

    async help(wanted) {
      if (this.state !== HELP) return false;
      const now = this.clock();
      if (wanted) {
        await this.record({
          type: 'press', question: HELP_QUESTION, value: 1, help: true, session: this.session,
          dwell_ms: Math.max(0, now - this.shownAt), repeat: this.repeat,
        });
      }
      if (this._pending === null && this._callsBack()) this._show(CALLBACK, now);
      else this._goOn(now);
      return true;
    }

    _reply(state, yes, then) {
      if (this.state !== state) return false;
      const now = this.clock();
      if (yes) this._show(then, now);
      else this._goOn(now);
      return true;
    }

    key(k) {
      if (this.state !== PHONE) return false;
      this.touchedAt = this.clock();  // typing is not idling
      if (k === 'del') {
        if (!this._n) return false;
        this._n -= 1;
        this._digits[this._n] = '';
        return true;
      }
      if (typeof k !== 'string' || k.length !== 1 || !(k >= '0' && k <= '9') || this._n >= PHONE_MAX) return false;
      this._digits[this._n] = k;
      this._n += 1;
      return true;
    }

    async phoneDone() {
      if (this.state !== PHONE || this._n < PHONE_MIN) return false;
      const now = this.clock();
      await this.record({
        type: 'press', question: CALLBACK_QUESTION, value: 1, callback: true,
        phone: phoneNumber(this._typed()), consent: true, session: this.session,
        dwell_ms: Math.max(0, now - this.shownAt), repeat: this.repeat,
      });
      this._goOn(now);
      return true;
    }

    tick() {
      const now = this.clock();
      if (this.busy() && now - this.touchedAt >= this.idleMs) {
        this._end(now, false, WELCOME);  // the visitor walked away: the answers given stay
        return true;
      }
      if (this.state === THANKS && now - this.shownAt >= THANKS_MS) {
        this.state = WELCOME;
        this.shownAt = now;
        return true;
      }
      return false;
    }

    _callsBack() { return this.offersCallback && this.phone; }

    _goOn(now) {
      if (this._pending !== null) this._end(now, false, THANKS);
      else this._next(now);
    }

    _show(state, now) {
      if (this.state === PHONE) {  // the keypad closes: the number typed is forgotten
        this._digits.fill('');
        this._n = 0;
      }
      this.state = state;
      this.shownAt = now;
      this.touchedAt = now;
    }

    _next(now) {
      let i = this.index + 1;
      while (i < this.questions.length && !this._asked(i)) i++;
      if (i < this.questions.length) {
        this.index = i;
        this._show(QUESTION, now);
      } else {
        this._end(now, true, THANKS);
      }
    }

    _end(now, completed, screen) {
      if (completed) this.completed++;
      else this.abandoned++;
      this.endedAt = now;
      this.index = -1;
      this.session = null;
      this._show(screen, now);
      if (this._pending !== null) this.configure(this._pending);
    }
  }

  // --- the fixed wording: firmware/kiosk/screens.py STRINGS (and the web kiosk's own) ---------

  const STRINGS = {
    ru: {
      yes: 'Да', no: 'Нет', help: 'Позвать администратора?', help2: 'Администратор подойдёт к вам',
      start: 'Коснитесь экрана, чтобы начать', welcome: 'Нам важно ваше мнение', thanks: 'Спасибо!',
      callback: 'Хотите, чтобы мы вам перезвонили?', callback2: 'Номер — только по желанию',
      consent_title: 'Согласие на звонок',
      consent: 'Номер нужен только для звонка по этому визиту. Он попадёт только в систему этого офиса '
        + 'и будет удалён через срок, заданный офисом (обычно несколько недель).',
      decline: 'Отказаться', agree: 'Согласиться', phone_hint: 'Введите номер телефона',
      cancel: 'Отмена', done: 'Готово',
      // the web kiosk's own
      del: 'Стереть цифру', online: 'На связи с хабом', offline: 'Нет связи с хабом',
      waiting: 'Ждут отправки: {n}', no_sw: 'Без хаба страница не откроется заново: нужен HTTPS',
    },
    en: {
      yes: 'Yes', no: 'No', help: 'Call an administrator?', help2: 'An administrator will come to you',
      start: 'Touch the screen to start', welcome: 'Your opinion matters to us', thanks: 'Thank you!',
      callback: 'Would you like us to call you back?', callback2: 'Leaving a number is up to you',
      consent_title: 'Consent to a call',
      consent: 'We use the number only to call you back about this visit. It goes only to this office\'s '
        + 'system and is deleted after the period the office set (usually a few weeks).',
      decline: 'Decline', agree: 'Agree', phone_hint: 'Type your phone number',
      cancel: 'Cancel', done: 'Done',
      del: 'Delete a digit', online: 'Connected to the hub', offline: 'No connection to the hub',
      waiting: 'Waiting to be sent: {n}', no_sw: 'Cannot reopen without the hub: HTTPS is needed',
    },
  };
  const LANG_NAMES = { ru: 'Русский', en: 'English' };
  const DEL = '\u2190';
  // the tablet's own screens: both languages at once (nobody has chosen one)
  const NOTICES = {
    notset: {
      icon: '?',
      title: ['Планшет не настроен', 'This tablet is not set up'],
      text: ['Отсканируйте QR-код на странице «Устройства» хаба («Добавить веб-киоск»).',
        'Scan the QR code on the hub\'s devices page ("Add a web kiosk").'],
    },
    other: {
      icon: '?',
      title: ['Ссылка от другого киоска', 'This link is another kiosk\'s'],
      text: ['Отсканируйте QR-код этого киоска на странице «Устройства» хаба.',
        'Scan this kiosk\'s QR code on the hub\'s devices page.'],
    },
    revoked: {
      icon: '×',
      title: ['Доступ этого киоска отозван', 'This kiosk\'s access was revoked'],
      text: ['Ответы больше не принимаются. Обратитесь к администратору офиса.',
        'Answers are no longer taken. Please ask the office\'s administrator.'],
    },
    elsewhere: {
      icon: '2',
      title: ['Киоск уже открыт в другой вкладке', 'This kiosk is open in another tab'],
      text: ['Закройте другую вкладку: здесь киоск заработает сам.',
        'Close the other tab: the kiosk starts here by itself.'],
    },
    nostorage: {
      icon: '!',
      title: ['Браузер не даёт хранить ответы', 'The browser does not let the page keep answers'],
      text: ['Откройте страницу не в режиме инкогнито и разрешите хранение данных сайта.',
        'Open the page outside private browsing and allow site data.'],
    },
  };

  function s(lang, key) { return (STRINGS[lang] || STRINGS.ru)[key]; }

  function phoneText(digits) {
    if (digits.slice(0, 1) === '8' && digits.length <= 11) return grouped('8', digits.slice(1));
    const number = phoneNumber(digits);
    if (number.slice(0, 2) === '+7' && number.length <= 12) return grouped('+7', number.slice(2));
    return number;
  }

  function grouped(prefix, rest) {
    if (!rest) return prefix;
    let out = prefix + ' (' + rest.slice(0, 3);
    if (rest.length >= 3) out += ')';
    if (rest.length > 3) out += ' ' + rest.slice(3, 6);
    if (rest.length > 6) out += '-' + rest.slice(6, 8);
    if (rest.length > 8) out += '-' + rest.slice(8, 10);
    return out;
  }

  // --- IndexedDB: the tablet's identity, token, config and outbox -----------------------------

  function promised(request) {
    return new Promise((resolve, reject) => {
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  function finished(tx) {
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
    });
  }

  function randomInc() {
    const word = new Uint32Array(1);
    do crypto.getRandomValues(word); while (word[0] === 0);
    return word[0];  // 1..4294967295
  }

  class Store {
    constructor() {
      this.db = null;
      this.inc = 0;
      this.boot = 0;
      this.seq = 0;
      this.ram = [];  // events IndexedDB refused (full, failing): sent from memory like the others
      this.writeErrors = 0;
    }

    open() {
      return new Promise((resolve, reject) => {
        const request = indexedDB.open('otklik-kiosk-' + DEVICE, 1);
        request.onupgradeneeded = () => {
          const db = request.result;
          db.createObjectStore('meta');
          db.createObjectStore('outbox', { autoIncrement: true });
        };
        request.onsuccess = () => { this.db = request.result; resolve(); };
        request.onerror = () => reject(request.error);
      });
    }

    /** This page load: inc (drawn once per storage), boot + 1, the token (a new one from the
        link replaces the old and clears a revocation), the stored config. */
    async start(linkToken) {
      const tx = this.db.transaction('meta', 'readwrite', { durability: 'strict' });
      const done = finished(tx);
      const meta = tx.objectStore('meta');
      let inc = await promised(meta.get('inc'));
      if (!inc) {
        inc = randomInc();
        meta.put(inc, 'inc');
      }
      const boot = ((await promised(meta.get('boot'))) || 0) + 1;
      meta.put(boot, 'boot');
      meta.put(0, 'seq:' + boot);
      for (const key of await promised(meta.getAllKeys())) {
        if (typeof key === 'string' && key.startsWith('seq:') && Number(key.slice(4)) < boot - 16) meta.delete(key);
      }
      if (linkToken) {
        meta.put(linkToken, 'token');
        meta.delete('revoked');
      }
      const token = linkToken || (await promised(meta.get('token'))) || null;
      const revoked = !linkToken && Boolean(await promised(meta.get('revoked')));
      const config = (await promised(meta.get('config'))) || null;
      const etag = (await promised(meta.get('etag'))) || null;
      await done;
      this.inc = inc;
      this.boot = boot;
      this.seq = 0;
      return { token, revoked, config, etag };
    }

    /** Give the event its identity and time and write it, with the seq, in one transaction;
        resolves once it is stored (or kept in memory when IndexedDB refuses it). */
    async record(body) {
      if (!('up' in body)) body.up = clockMs();
      const seq = ++this.seq;
      body.v = 1;
      body.device = DEVICE;
      body.inc = this.inc;
      body.boot = this.boot;
      body.seq = seq;
      const now = Date.now();
      // the tablet's clock less the time since the answer; null when the clock is not plausible
      // (outside the contract's range, or more than 10 min off the hub's Date: the hub then dates
      // the answer by its sent_up or its arrival), never a value the contract would quarantine
      const ts = Math.round(now - (performance.now() - body.up));
      const skewed = hubSkewMs !== null && Math.abs(hubSkewMs) > MAX_SKEW_MS;
      body.ts = ts >= 1500000000000 && ts <= 4102444800000 && !skewed ? ts : null;
      if (typeof body.dwell_ms === 'number' && body.dwell_ms > MAX_DWELL_MS) body.dwell_ms = MAX_DWELL_MS;
      const entry = { inc: this.inc, boot: this.boot, seq, body };
      try {
        const tx = this.db.transaction(['meta', 'outbox'], 'readwrite', { durability: 'strict' });
        const done = finished(tx);
        tx.objectStore('outbox').add(entry);
        tx.objectStore('meta').put(seq, 'seq:' + this.boot);
        await done;
      } catch (error) {
        // kept in memory and sent as soon as the hub answers; the kiosk stops taking answers (the
        // "cannot keep answers" screen) and its heartbeat reports them as drops, until a reload
        this.writeErrors++;
        this.ram.push({ key: null, entry });
        storageBroken = true;
        console.warn('kiosk: an answer is kept in memory only, IndexedDB refused it:', error && error.name);
      }
      return seq;
    }

    /** The oldest events waiting for the hub, at most ``limit``: [{key, entry}]. */
    async oldest(limit) {
      const tx = this.db.transaction('outbox', 'readonly');
      const outbox = tx.objectStore('outbox');
      const [keys, entries] = await Promise.all([
        promised(outbox.getAllKeys(null, limit)), promised(outbox.getAll(null, limit)),
      ]);
      const out = keys.map((key, i) => ({ key, entry: entries[i] }));
      for (const item of this.ram) if (out.length < limit) out.push(item);
      return out;
    }

    async drop(items) {
      const keys = items.filter((item) => item.key !== null).map((item) => item.key);
      this.ram = this.ram.filter((item) => !items.includes(item));
      if (!keys.length) return;
      const tx = this.db.transaction('outbox', 'readwrite');
      const done = finished(tx);
      const outbox = tx.objectStore('outbox');
      for (const key of keys) outbox.delete(key);
      await done;
    }

    async count() {
      const tx = this.db.transaction('outbox', 'readonly');
      return (await promised(tx.objectStore('outbox').count())) + this.ram.length;
    }

    async put(values) {
      const tx = this.db.transaction('meta', 'readwrite');
      const done = finished(tx);
      const meta = tx.objectStore('meta');
      for (const [key, value] of Object.entries(values)) meta.put(value, key);
      await done;
    }
  }

  // --- the page ------------------------------------------------------------------------------

  const store = new Store();
  let token = null;
  let survey = null;
  let config = null;
  let etag = null;
  let hubSkewMs = null;  // the tablet's clock less the hub's (its answers' Date header)
  const MAX_SKEW_MS = 600000;
  const MAX_DWELL_MS = 3600000;  // the contract's maximum (a tablet asleep mid-question)
  let storageBroken = false;  // IndexedDB refused an answer: no more are taken (see record)
  let stopped = null;  // 'revoked' | 'other' | 'notset' | 'nostorage': no survey shown
  let locked = false;  // an action is being recorded: other taps wait
  let connected = null;  // the last call to the hub reached it (null: not known yet)
  let outboxCount = 0;
  let sending = false;
  let backoffMs = 0;
  let retryTimer = null;
  let shellCached = false;
  const timers = [];
  const swPossible = 'serviceWorker' in navigator && window.isSecureContext;

  function el(tag, props, children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [key, value] of Object.entries(props)) {
        if (value === null || value === undefined || value === false) continue;
        if (key === 'class') node.className = value;
        else if (key === 'text') node.textContent = value;
        else if (key === 'on') node.addEventListener('click', value);
        else if (key === 'style') for (const [p, v] of Object.entries(value)) node.style.setProperty(p, v);
        else node.setAttribute(key, value === true ? '' : value);
      }
    }
    for (const child of children || []) if (child) node.append(child);
    return node;
  }

  function button(label, action, props) {
    return el('button', {
      type: 'button', ...props,
      on: (event) => { event.stopPropagation(); act(action, event.currentTarget); },
    }, [label]);
  }

  function title(text, extra) {
    return el('h1', { class: 'title' + (text.length > 90 ? ' long' : '') + (extra ? ' ' + extra : ''), text });
  }

  /** The screen's texts, centred in the space the buttons leave. */
  function head(...children) {
    return el('div', { class: 'head' }, children);
  }

  function setAttrs(kind, d, lang) {
    root.dataset.screen = kind;
    root.dataset.lang = lang;
    if (d && d.id) root.dataset.question = d.id;
    else delete root.dataset.question;
    document.documentElement.lang = lang;
  }

  function render() {
    if (stopped) return renderNotice(stopped);
    if (storageBroken) return renderNotice('nostorage');  // no answer taken that could not be kept
    const [kind, d] = survey.screen();
    const lang = kind === WELCOME ? survey.defaultLang : survey.lang;
    setAttrs(kind, d, lang);
    root.dataset.rev = config && config.rev !== undefined ? String(config.rev) : '';
    root.dataset.pending = survey.pending ? '1' : '';
    let screen;
    if (kind === WELCOME) screen = welcomeScreen(d, lang);
    else if (kind === QUESTION) screen = questionScreen(d, lang);
    else if (kind === HELP) screen = yesNoScreen('help', s(lang, 'help'), s(lang, 'help2'), lang, false, true, true);
    else if (kind === CALLBACK) {
      screen = yesNoScreen('callback', s(lang, 'callback'), s(lang, 'callback2'), lang, false, true, false);
    } else if (kind === CONSENT) screen = consentScreen(lang);
    else if (kind === PHONE) screen = phoneScreen(d, lang);
    else screen = thanksScreen(d.text || s(lang, 'thanks'));
    screen.classList.add('screen', kind);
    root.replaceChildren(screen);
  }

  function footer(lang) {
    const left = connected === null ? null
      : el('span', { class: 'dot' + (connected ? '' : ' off'), text: s(lang, connected ? 'online' : 'offline') });
    const notes = [];
    if (outboxCount > 0) notes.push(s(lang, 'waiting').replace('{n}', String(outboxCount)));
    if (!swPossible) notes.push(s(lang, 'no_sw'));
    return el('div', { class: 'footer' }, [left || el('span'), el('span', { text: notes.join(' · ') })]);
  }

  function welcomeScreen(d, lang) {
    const langs = d.langs && d.langs.length ? d.langs : [lang];
    if (!langs.includes(lang)) lang = langs[0];
    const text = d.text || s(lang, 'welcome');
    if (langs.length > 1) {
      const buttons = langs.slice(0, 2).map((code) => button(LANG_NAMES[code] || code, ['begin', code], {
        class: 'primary', 'data-lang': code, lang: code,
      }));
      return el('section', {}, [head(title(text)), el('div', { class: 'langs' }, buttons), footer(lang)]);
    }
    const start = button(s(lang, 'start'), ['begin', lang], { class: 'start sub', 'data-lang': lang });
    start.style.border = '0';
    start.style.background = 'transparent';
    const screen = el('section', {}, [head(title(text)), start, footer(lang)]);
    screen.addEventListener('click', () => act(['begin', lang], null));  // the whole screen starts it
    return screen;
  }

  function scaleRows(values) {
    if (values.length <= 5) return [values];
    const k = Math.ceil(values.length / 2);  // two rows, the first one the longer
    return [values.slice(0, k), values.slice(k)];
  }

  function questionScreen(d, lang) {
    const progress = el('div', { class: 'top' }, [
      el('span', { class: 'progress', text: `${d.number || 1}/${d.total || 1}` }),
    ]);
    let keys;
    if (d.scale === 'choice') {
      const labels = d.labels || [];
      keys = el('div', { class: 'choice' }, d.values.map((v, i) => button(
        labels[i] || String(v), ['answer', v], { 'data-value': v },
      )));
    } else if (d.scale === 'yesno') {
      keys = pairRow(s(lang, 'no'), s(lang, 'yes'), ['answer', 0], ['answer', 1], false, { 'data-value': 0 }, { 'data-value': 1 });
      keys.classList.add('yesno');
    } else {
      const rows = scaleRows(d.values);
      const k = rows[0].length;
      keys = el('div', { class: 'keys ' + d.scale }, rows.map((row) => el('div', { class: 'row', style: { '--k': String(k) } },
        row.map((v) => button(String(v), ['answer', v], { class: 'v' + v, 'data-value': v })))));
    }
    return el('section', { 'data-scale': d.scale }, [progress, head(title(d.text)), keys]);
  }

  function pairRow(noLabel, yesLabel, noAction, yesAction, primary, noProps, yesProps) {
    return el('div', { class: 'keys pair' }, [el('div', { class: 'row', style: { '--k': '2' } }, [
      button(noLabel, noAction, noProps),
      button(yesLabel, yesAction, { ...yesProps, class: primary ? 'primary' : null }),
    ])]);
  }

  function yesNoScreen(action, text, sub, lang, no, yes, primary) {
    return el('section', {}, [
      head(title(text), el('p', { class: 'sub', text: sub })),
      pairRow(s(lang, 'no'), s(lang, 'yes'), [action, no], [action, yes], primary,
        { 'data-answer': 'no' }, { 'data-answer': 'yes' }),
    ]);
  }

  function consentScreen(lang) {
    return el('section', {}, [
      head(title(s(lang, 'consent_title')), el('p', { class: 'text', text: s(lang, 'consent') })),
      pairRow(s(lang, 'decline'), s(lang, 'agree'), ['consent', false], ['consent', true], false,
        { 'data-answer': 'no' }, { 'data-answer': 'yes' }),
    ]);
  }

  function phoneScreen(d, lang) {
    const digits = d.digits || '';
    const number = digits
      ? el('p', { class: 'number', 'aria-live': 'polite', text: phoneText(digits) })
      : el('p', { class: 'number hint', text: s(lang, 'phone_hint') });
    const pad = [];
    for (const k of '1234567890') pad.push(button(k, ['key', k], { class: k === '0' ? 'zero' : null, 'data-key': k }));
    pad.push(button(DEL, ['key', 'del'], { class: 'action del', 'data-key': 'del', 'aria-label': s(lang, 'del') }));
    pad.push(button(s(lang, 'cancel'), ['phone', 'cancel'], { class: 'action cancel', 'data-action': 'cancel' }));
    pad.push(button(s(lang, 'done'), ['phone', 'done'], {
      class: 'action done ' + (d.ok ? 'primary' : 'off'), 'data-action': 'done', 'aria-disabled': d.ok ? null : 'true',
    }));
    return el('section', {}, [head(number), el('div', { class: 'pad' }, pad)]);
  }

  function thanksScreen(text) {
    return el('section', {}, [head(el('div', { class: 'check', role: 'img', 'aria-label': '✓' }), title(text))]);
  }

  function renderNotice(kind) {
    const notice = NOTICES[kind];
    setAttrs(kind, null, document.documentElement.lang || 'ru');
    const lines = (pair, cls) => el(cls === 'title' ? 'h1' : 'p', { class: cls }, pair.map((t, i) => el('span', { text: t, lang: i ? 'en' : 'ru' })));
    const parts = [el('div', { class: 'icon', 'aria-hidden': 'true', text: notice.icon }), lines(notice.title, 'title'), lines(notice.text, 'sub')];
    if (kind === 'revoked' && outboxCount > 0) {
      parts.push(el('p', { class: 'note', text: `Не отправлено ответов: ${outboxCount} · Answers not sent: ${outboxCount}` }));
    }
    if (!swPossible) {
      parts.push(el('p', {
        class: 'note',
        text: 'Без HTTPS (или localhost) браузер не сохранит страницу для работы без хаба: ответы всё равно '
          + 'хранятся на планшете до отправки. · Without HTTPS (or localhost) the browser cannot keep the page '
          + 'for reloads without the hub: answers are still kept on the tablet until sent.',
      }));
    }
    root.replaceChildren(el('section', { class: 'screen notice ' + kind }, parts));
  }

  // --- the visitor's taps --------------------------------------------------------------------

  function fullScreen() {
    const doc = document.documentElement;
    if (document.fullscreenElement || !document.fullscreenEnabled || !doc.requestFullscreen) return;
    doc.requestFullscreen({ navigationUI: 'hide' }).catch(() => {});
  }

  async function act(action, target) {
    if (locked || stopped || !survey) return;
    if (action[0] === 'begin') fullScreen();  // a tap is the gesture a browser wants for it
    locked = true;
    if (target) target.classList.add('pressed');
    let changed = false;
    try {
      changed = await survey.act(action);
    } catch (error) {
      console.error('kiosk: the action failed:', error && error.name);
    } finally {
      locked = false;
    }
    if (changed) render();
    else if (target) target.classList.remove('pressed');
    if (changed && action[0] !== 'key') kick();
  }

  // --- the hub -------------------------------------------------------------------------------

  async function call(method, path, { body, headers } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), REQUEST_TIMEOUT_MS);
    try {
      const response = await fetch(API + path, {
        method, cache: 'no-store', credentials: 'omit', signal: controller.signal,
        headers: { Authorization: 'Bearer ' + token, ...(body ? { 'Content-Type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const hubDate = Date.parse(response.headers.get('Date') || '');
      if (!Number.isNaN(hubDate)) hubSkewMs = Date.now() - hubDate;
      if (response.status === 401) stop('revoked');
      else if (response.status === 403) stop('other');
      setConnected(response.status < 500);
      return response;
    } catch (error) {
      setConnected(false);
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  function setConnected(value) {
    const was = connected;
    connected = value;
    if (value && was === false) kick(true);  // the hub answers again: send what waits now
    if (was !== value) refreshFooter();
  }

  /** The welcome screen's footer (connection, answers waiting) updated in place: the rest of the
      screen is left alone, so a visitor's tap on it is never lost to a redraw. */
  function refreshFooter() {
    const old = root.querySelector('.welcome > .footer');
    if (old && survey && survey.state === WELCOME && !stopped) old.replaceWith(footer(survey.defaultLang));
  }

  async function refreshCount() {
    try {
      outboxCount = await store.count();
    } catch (error) {
      return;
    }
    root.dataset.outbox = String(outboxCount);
  }

  function kick(now) {
    if (stopped === 'revoked' || stopped === 'other' || !token) return;
    if (now && retryTimer !== null) {
      clearTimeout(retryTimer);
      retryTimer = null;
      backoffMs = 0;
    }
    if (retryTimer === null) send();
  }

  function retryLater() {
    backoffMs = Math.min(BACKOFF_MAX_MS, backoffMs ? backoffMs * 2 : BACKOFF_MIN_MS);
    const delay = backoffMs * (0.8 + Math.random() * 0.4);
    if (retryTimer !== null) clearTimeout(retryTimer);
    retryTimer = setTimeout(() => { retryTimer = null; send(); }, delay);
  }

  /** Post the outbox oldest first, 100 events a request, one request at a time. */
  async function send() {
    if (sending) return;
    sending = true;
    try {
      for (;;) {
        if (stopped) break;
        const items = await store.oldest(MAX_EVENTS);
        if (!items.length) {
          backoffMs = 0;
          break;
        }
        const up = clockMs();
        const bodies = items.map(({ entry }) => (
          // sent_up (uptime at sending) means something only in the boot the event was made in
          entry.boot === store.boot && entry.inc === store.inc ? { ...entry.body, sent_up: up } : entry.body
        ));
        const response = await call('POST', '/events', { body: bodies });
        if (!response || !response.ok) {
          // 503, a network error, the hub down: everything stays; 401/403 stopped the kiosk
          if (!stopped) retryLater();
          break;
        }
        const answer = await response.json();
        const acked = new Set();
        for (const ack of answer.acks || []) {
          for (const seq of ack.seqs) acked.add(`${ack.inc}/${ack.boot}/${seq}`);
        }
        const refused = new Set((answer.refused || []).map((r) => r.index));
        for (const r of answer.refused || []) {
          console.warn(`kiosk: the hub refused event ${r.boot}/${r.seq}: ${r.reason}`);  // never the body
        }
        const done = items.filter(({ entry }, i) => refused.has(i) || acked.has(`${entry.inc}/${entry.boot}/${entry.seq}`));
        await store.drop(done);
        await refreshCount();
        if (!done.length) {  // an answer that settles nothing: do not spin
          retryLater();
          break;
        }
        backoffMs = 0;
      }
    } catch (error) {
      console.warn('kiosk: sending failed:', error && error.name);
      retryLater();
    } finally {
      sending = false;
      await refreshCount();
      refreshFooter();
    }
  }

  async function heartbeat() {
    if (stopped || !token) return;
    await refreshCount();
    const status = {
      v: 1, device: DEVICE, state: 'online', kind: 'webkiosk', fw: FW, hw: 'browser',
      boot: store.boot, up: clockMs(), inc: store.inc, outbox: outboxCount, drops: store.writeErrors,
    };
    if (config && Number.isInteger(config.rev)) status.config_rev = config.rev;
    const response = await call('POST', '/status', { body: status });
    if (response && response.ok) {
      const answer = await response.json();
      if (Number.isInteger(answer.config_rev) && (!config || answer.config_rev !== config.rev)) pollConfig();
    }
    if (!shellCached) cacheShell();
  }

  let polling = false;
  async function pollConfig() {
    if (stopped || !token || polling) return;
    polling = true;
    try {
      const response = await call('GET', '/config', { headers: etag ? { 'If-None-Match': etag } : {} });
      if (!response || response.status !== 200) return;
      const fresh = await response.json();
      const tag = response.headers.get('ETag');
      config = fresh;
      etag = tag;
      await store.put({ config: fresh, etag: tag });
      apply(fresh);
    } catch (error) {
      console.warn('kiosk: the config could not be read:', error && error.name);
    } finally {
      polling = false;
    }
  }

  /** A new survey: the engine's configure() (a visitor in the middle finishes the question on
      screen first); the welcome screen shows it at once, as the touch kiosk's _on_config. */
  function apply(fresh) {
    if (!survey) return;
    const welcome = survey.state === WELCOME;
    survey.configure(fresh);
    root.dataset.rev = String(fresh.rev);
    root.dataset.pending = survey.pending ? '1' : '';
    if (welcome && !locked) render();
  }

  function stop(kind) {
    if (stopped === kind) return;
    stopped = kind;
    if (kind === 'revoked') store.put({ revoked: true }).catch(() => {});
    for (const timer of timers) clearInterval(timer);
    if (retryTimer !== null) clearTimeout(retryTimer);
    refreshCount().then(() => renderNotice(kind));
    renderNotice(kind);
  }

  // --- offline shell -------------------------------------------------------------------------

  async function cacheShell() {
    if (!swPossible || shellCached) return;
    try {
      await navigator.serviceWorker.register(SW_URL, { scope: SW_SCOPE });
      await navigator.serviceWorker.ready;
      const cache = await caches.open(CACHE);
      const urls = [location.pathname, ...SHELL];
      await cache.addAll(urls);
      for (const request of await cache.keys()) {  // older versions of the assets
        const url = new URL(request.url);
        if (url.pathname.startsWith('/static/') && !urls.includes(url.pathname + url.search)) await cache.delete(request);
      }
      shellCached = true;
      root.dataset.offlineReady = '1';
    } catch (error) {
      console.warn('kiosk: the offline copy of the page is not ready:', error && error.name);
    }
  }

  function keepAwake() {
    if (!('wakeLock' in navigator) || document.visibilityState !== 'visible') return;
    navigator.wakeLock.request('screen').catch(() => {});
  }

  // --- start ---------------------------------------------------------------------------------

  function linkToken() {
    const match = /(?:^#|&)t=([^&]+)/.exec(location.hash);
    if (!match) return null;
    history.replaceState(null, '', location.pathname + location.search);  // the token leaves the address bar
    return decodeURIComponent(match[1]);
  }

  /** One tab per kiosk: two tabs would interleave their boots and heartbeats (the hub would see an
      identity going backwards). A second tab says so and starts by itself once the first closes. */
  function holdTab() {
    if (!navigator.locks) return Promise.resolve();
    return new Promise((resolve) => {
      let held = false;
      const notice = setTimeout(() => { if (!held) renderNotice('elsewhere'); }, 2000);
      navigator.locks.request('otk-kiosk:' + DEVICE, () => {
        held = true;
        clearTimeout(notice);
        resolve();
        return new Promise(() => {});  // held while the page lives
      });
    });
  }

  async function start() {
    await holdTab();
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persist().catch(() => {});  // ask the browser not to evict the outbox
    }
    const fromLink = linkToken();
    let state;
    try {
      await store.open();
      state = await store.start(fromLink);
    } catch (error) {
      console.error('kiosk: IndexedDB is not available:', error && error.name);
      stop('nostorage');
      return;
    }
    token = state.token;
    config = state.config;
    etag = state.etag;
    await refreshCount();
    if (!token) {
      stop('notset');
      cacheShell();
      return;
    }
    if (state.revoked) {
      stop('revoked');
      return;
    }
    survey = new Survey(config || {}, (body) => store.record(body).then(refreshCount));
    render();
    timers.push(setInterval(() => {
      if (!locked && survey.tick()) render();
    }, TICK_MS));
    timers.push(setInterval(pollConfig, CONFIG_POLL_MS));
    timers.push(setInterval(heartbeat, STATUS_MS));
    timers.push(setInterval(() => kick(false), SEND_EVERY_MS));
    window.addEventListener('online', () => { kick(true); pollConfig(); });
    document.addEventListener('visibilitychange', keepAwake);
    document.addEventListener('contextmenu', (event) => event.preventDefault());
    keepAwake();
    cacheShell();
    await pollConfig();
    heartbeat();
    kick(true);
  }

  // a new provisioning link opened on this page: start again with its token
  window.addEventListener('hashchange', () => {
    if (/(?:^#|&)t=/.test(location.hash)) location.reload();
  });

  // for the tests (the engine side by side with the firmware's) and a technician's console
  window.otkKiosk = { Survey, phoneNumber, phoneText, valuesOf, isNegative, outbox: () => store.count() };

  start();
})();
