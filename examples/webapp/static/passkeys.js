// passkeys.js: the example app's passkey pages, with no framework.
// The helpers are docs/passkeys.md's; the rest wires them to the pages:
//   form[data-passkey="register"]     "Add a passkey" (profile)
//   form[data-passkey="sign-in"]      "Sign in with a passkey", and the autofill of
//                                     the <input autocomplete="username webauthn">
//   form[data-passkey="second-step"]  the passkey as the second step of sign-in
// Each asks its begin endpoint for options (JSON), runs WebAuthn, then submits its
// form with the answer in a hidden field: the server answers with a normal page.
"use strict";

const b64url = {
  encode(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  },
  decode(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0)).buffer;
  },
};

function withIds(list) {
  return (list || []).map((c) => ({ ...c, id: b64url.decode(c.id) }));
}

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) {
    return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64url.decode(json.challenge),
    user: { ...json.user, id: b64url.decode(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) {
    return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  }
  return {
    ...json,
    challenge: b64url.decode(json.challenge),
    allowCredentials: withIds(json.allowCredentials),
  };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: b64url.encode(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = b64url.encode(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = b64url.encode(r.authenticatorData);
    response.signature = b64url.encode(r.signature);
    response.userHandle = r.userHandle ? b64url.encode(r.userHandle) : null;
  }
  return {
    id: credential.id,
    rawId: b64url.encode(credential.rawId),
    type: credential.type,
    authenticatorAttachment: credential.authenticatorAttachment,
    clientExtensionResults: credential.getClientExtensionResults(),
    response,
  };
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]').content;
}

async function begin(url, body) {
  const reply = await fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  return reply.json();
}

function say(form, text) {
  const status = form.querySelector("[data-passkey-status]");
  if (status) status.textContent = text;
}

function refused(form, error) {
  // The user closed the browser's dialog, or no passkey answered.
  if (error && error.name === "AbortError") return;
  say(form, "No passkey was used. Try again, or use another way.");
}

function submitWith(form, fields) {
  for (const [name, value] of Object.entries(fields)) form.elements[name].value = value;
  form.submit(); // no submit event: the handler below does not run again
}

function setUpRegister(form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reply = await begin(form.dataset.begin, {
      name: form.elements.name.value,
      passwordless: form.elements.passwordless ? form.elements.passwordless.checked : true,
    });
    if (reply.redirect) return location.assign(reply.redirect); // password or step-up first
    if (reply.error) return say(form, reply.error);
    try {
      const credential = await navigator.credentials.create({
        publicKey: creationOptions(reply.options),
      });
      submitWith(form, { credential: JSON.stringify(credentialJSON(credential)) });
    } catch (error) {
      refused(form, error);
    }
  });
}

let autofill = null; // the pending conditional request, aborted by the button

async function signIn(form, conditional) {
  const { ceremonyId, options } = await begin(form.dataset.begin, { conditional });
  const request = { publicKey: requestOptions(options) };
  if (conditional) {
    autofill = new AbortController();
    request.mediation = "conditional";
    request.signal = autofill.signal;
  }
  const credential = await navigator.credentials.get(request);
  submitWith(form, {
    ceremony_id: ceremonyId,
    credential: JSON.stringify(credentialJSON(credential)),
  });
}

function setUpSignIn(form) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (autofill) autofill.abort();
    signIn(form, false).catch((error) => refused(form, error));
  });
  const field = document.querySelector('input[autocomplete~="webauthn"]');
  if (!field || form.dataset.conditional === "off") return;
  const available = PublicKeyCredential.isConditionalMediationAvailable;
  if (!available) return;
  available.call(PublicKeyCredential).then((yes) => {
    if (yes) signIn(form, true).catch(() => {}); // the autofill may simply go unused
  });
}

function setUpSecondStep(form) {
  const options = JSON.parse(form.dataset.options);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      submitWith(form, { code: JSON.stringify(credentialJSON(credential)) });
    } catch (error) {
      refused(form, error);
    }
  });
}

if (window.PublicKeyCredential) {
  document.querySelectorAll('form[data-passkey="register"]').forEach(setUpRegister);
  document.querySelectorAll('form[data-passkey="sign-in"]').forEach(setUpSignIn);
  document.querySelectorAll('form[data-passkey="second-step"]').forEach(setUpSecondStep);
} else {
  document.querySelectorAll("form[data-passkey]").forEach((form) => {
    say(form, "This browser cannot use passkeys.");
    form.querySelector("button").disabled = true;
  });
}
