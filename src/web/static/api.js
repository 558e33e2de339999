// Freshet's public HTTP API as the dashboard calls it: the JavaScript client
// (clients/js/freshet.js, served beside this page at /freshet.js), with the
// token, when the server wants one, kept in sessionStorage (this tab only).
import { Client, FreshetError } from "./freshet.js";

const TOKEN_KEY = "freshet-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export const client = new Client({ url: location.origin, token: token() });

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
  client.setToken(t || "");
}

// An API error with the server's code and sentence (status, code, response).
export const ApiError = FreshetError;

export function call(path, options) {
  return client.request(path, options);
}
