// The tenant's live progress stream (WS /v1/events), kept open across network trouble.
//
// Every message carries a cursor; after a drop the stream reconnects with ?cursor=<last one>
// and the gateway replays what was missed from its event log (no gaps, no duplicates). When
// the cursor is too old the gateway starts over with a snapshot, which the store reconciles.
//
// Events: 'snapshot' (detail: the message), 'progress' (detail: the message),
//         'state' (detail: 'connecting' | 'live' | 'reconnecting' | 'offline'), 'unauthorized'.

const CLOSE_BAD_REQUEST = 4400;
const CLOSE_UNAUTHORIZED = 4401;
const MAX_DELAY_MS = 15000;

export class LiveEvents extends EventTarget {
  constructor(getKey) {
    super();
    this.getKey = getKey;
    this.cursor = null;
    this.state = 'offline';
    this.socket = null;
    this.failures = 0;
    this.timer = null;
    this.running = false;
    this.reconnectNow = () => {
      if (this.running && this.state === 'reconnecting') this.connect();
    };
  }

  start() {
    if (this.running) return;
    this.running = true;
    window.addEventListener('online', this.reconnectNow);
    document.addEventListener('visibilitychange', this.reconnectNow);
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    window.removeEventListener('online', this.reconnectNow);
    document.removeEventListener('visibilitychange', this.reconnectNow);
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.close(1000, 'bye');
    }
    this.cursor = null;
    this.setState('offline');
  }

  connect() {
    clearTimeout(this.timer);
    if (this.socket) {
      const old = this.socket;
      this.socket = null;
      old.close(1000, 'reconnecting');
    }
    const url = new URL('/v1/events', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('api_key', this.getKey());
    if (this.cursor) url.searchParams.set('cursor', this.cursor);
    this.setState(this.failures ? 'reconnecting' : 'connecting');
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.addEventListener('message', (event) => {
      if (socket !== this.socket) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      this.failures = 0;
      this.setState('live');
      if (message.cursor) this.cursor = message.cursor;
      if (message.type === 'snapshot' || message.type === 'progress') {
        this.dispatchEvent(new CustomEvent(message.type, { detail: message }));
      }
    });
    socket.addEventListener('open', () => {
      // Back-off is reset by the first message, not here: a socket that opens and drops at
      // once (a gateway still starting) must not turn into a tight reconnect loop.
      if (socket === this.socket) this.setState('live');
    });
    socket.addEventListener('close', (event) => this.onClose(socket, event));
  }

  onClose(socket, event) {
    if (socket !== this.socket || !this.running) return;
    this.socket = null;
    if (event.code === CLOSE_UNAUTHORIZED) {
      this.running = false;
      this.setState('offline');
      this.dispatchEvent(new CustomEvent('unauthorized'));
      return;
    }
    if (event.code === CLOSE_BAD_REQUEST) this.cursor = null; // start over with a snapshot
    this.failures += 1;
    // Exponential back-off with jitter, so a restarted gateway is not hit by every tab at once.
    const delay = Math.min(MAX_DELAY_MS, 500 * 2 ** Math.min(this.failures - 1, 5)) * (0.75 + Math.random() / 2);
    this.setState('reconnecting');
    this.timer = setTimeout(() => this.connect(), delay);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
}
