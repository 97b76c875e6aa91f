// The bearer token the pages' API calls carry, kept for this tab only
// (sessionStorage, shared by the pages). A link may hand it over in its
// fragment (#token=...), which never reaches a server: it is moved into the
// tab's storage and dropped from the address bar. Who the caller is comes
// from the token alone. The page has an <input id="token"> in its header.
"use strict";

const hindsightToken = (() => {
  const key = "hindsight.token";
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(key, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const input = document.getElementById("token");
  input.value = sessionStorage.getItem(key) || "";
  input.addEventListener("change", () => sessionStorage.setItem(key, input.value.trim()));
  return {
    input,
    // fetch is the browser's fetch with the token as the Authorization
    // header; a 401 throws, asking for a (valid) token.
    async fetch(path, init = {}) {
      const token = input.value.trim();
      const headers = { ...(init.headers || {}) };
      if (token) headers.Authorization = "Bearer " + token;
      const resp = await fetch(path, { ...init, headers });
      if (resp.status === 401) {
        input.focus();
        throw new Error(token ? "the token was refused: enter a valid one (top right)" : "authentication is on: enter your token (top right)");
      }
      return resp;
    },
  };
})();
