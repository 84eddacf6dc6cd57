// Passkey ceremonies (WebAuthn) for the /account/ pages.
//
// An element with data-passkey="register|sign-in|verify" holds a button; it is
// hidden in the HTML and shown here only when the browser has WebAuthn, so
// pages without JavaScript never offer what they cannot do. The server sends
// the options as JSON (base64url for binary values) and takes the answer the
// same way; everything is checked there.
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var raw = atob(b64), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(o) {
    o.challenge = toBytes(o.challenge);
    o.user.id = toBytes(o.user.id);
    (o.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function requestOptions(o) {
    o.challenge = toBytes(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return o;
  }

  function credentialJSON(cred) {
    var r = cred.response, out = {
      id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults(),
      response: { clientDataJSON: toB64url(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) out.response.transports = r.getTransports();
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) out.response.userHandle = toB64url(r.userHandle);
    }
    if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
    return out;
  }

  function post(url, token, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": token },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data.message || data.message_vi || response.statusText);
        return data;
      });
    });
  }

  function start(box) {
    var kind = box.dataset.passkey;
    var status = box.querySelector("[data-passkey-status]");
    var token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
    var nameInput = box.querySelector("input[name=name]");
    status.textContent = box.dataset.waiting || "";
    post(box.dataset.optionsUrl, token).then(function (options) {
      if (kind === "register") {
        return navigator.credentials.create({ publicKey: creationOptions(options) });
      }
      return navigator.credentials.get({ publicKey: requestOptions(options) });
    }).then(function (credential) {
      var body = { credential: credentialJSON(credential), next: box.dataset.next || "" };
      if (nameInput) body.name = nameInput.value;
      return post(box.dataset.url, token, body);
    }).then(function (data) {
      window.location.assign(data.redirect);
    }).catch(function (error) {
      status.textContent = (error && error.name === "NotAllowedError")
        ? (box.dataset.cancelled || error.message) : error.message;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.PublicKeyCredential) return;
    document.querySelectorAll("[data-passkey]").forEach(function (box) {
      box.hidden = false;
      var unsupported = document.querySelector("[data-passkey-unsupported]");
      if (unsupported) unsupported.hidden = true;
      box.addEventListener("submit", function (event) {
        event.preventDefault();
        start(box);
      });
    });
  });
})();
