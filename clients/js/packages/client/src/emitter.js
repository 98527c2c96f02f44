// The on/off/once emitter behind StetConnection and StetDocument: neither
// the DOM's EventTarget nor Node's EventEmitter exists in both places.

export class Emitter {
  constructor() {
    this._listeners = new Map();
  }

  /** Calls `fn(payload)` on every `event` until `off`. */
  on(event, fn) {
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return this;
  }

  off(event, fn) {
    const set = this._listeners.get(event);
    if (set) set.delete(fn);
    return this;
  }

  /** Calls `fn(payload)` on the next `event` only. */
  once(event, fn) {
    const wrapped = (payload) => {
      this.off(event, wrapped);
      fn(payload);
    };
    return this.on(event, wrapped);
  }

  emit(event, payload) {
    const set = this._listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(payload);
      } catch (err) {
        // A listener's bug must not leave the client half way through a
        // message; it surfaces as an uncaught error instead.
        setTimeout(() => {
          throw err;
        });
      }
    }
  }

  removeAllListeners() {
    this._listeners.clear();
  }
}
