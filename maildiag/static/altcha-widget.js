// The ALTCHA proof-of-work widget for the forgot-password form; no third-party code.
// It fetches a signed challenge, finds the number n with SHA-256(salt + n) == challenge
// (in chunks, so the page stays responsive), and puts the base64 JSON payload in the hidden
// field the server verifies.
(function () {
  "use strict";

  var CHUNK = 250;

  function hex(buffer) {
    var bytes = new Uint8Array(buffer);
    var out = "";
    for (var i = 0; i < bytes.length; i++) {
      out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
    }
    return out;
  }

  function pause() {
    return new Promise(function (resolve) { setTimeout(resolve, 0); });
  }

  async function solve(challenge) {
    var max = challenge.maxnumber || challenge.maxNumber || 1000000;
    var algorithm = challenge.algorithm || "SHA-256";
    var encoder = new TextEncoder();
    for (var n = 0; n <= max; n++) {
      var digest = await crypto.subtle.digest(algorithm, encoder.encode(challenge.salt + n));
      if (hex(digest) === challenge.challenge) {
        return n;
      }
      if (n % CHUNK === CHUNK - 1) {
        await pause();
      }
    }
    return null;
  }

  function setup(box) {
    var form = box.closest("form");
    var input = box.querySelector('input[type="hidden"][name="' + box.dataset.field + '"]');
    var check = box.querySelector(".captcha-box");
    var status = box.querySelector(".captcha-status");
    var running = null;

    function say(text) { status.textContent = text; }

    function run() {
      if (input.value) { return Promise.resolve(true); }
      if (running) { return running; }
      if (!window.crypto || !crypto.subtle) { say(box.dataset.failed); return Promise.resolve(false); }
      say(box.dataset.working);
      box.setAttribute("aria-busy", "true");
      running = (async function () {
        try {
          var response = await fetch(box.dataset.challengeUrl, { credentials: "same-origin", cache: "no-store" });
          if (!response.ok) { throw new Error("challenge " + response.status); }
          var challenge = await response.json();
          var number = await solve(challenge);
          if (number === null) { throw new Error("no solution"); }
          input.value = btoa(JSON.stringify({
            algorithm: challenge.algorithm,
            challenge: challenge.challenge,
            number: number,
            salt: challenge.salt,
            signature: challenge.signature
          }));
          check.checked = true;
          box.classList.add("verified");
          say(box.dataset.done);
          return true;
        } catch (error) {
          check.checked = false;
          say(box.dataset.failed);
          return false;
        } finally {
          box.removeAttribute("aria-busy");
          running = null;
        }
      })();
      return running;
    }

    check.addEventListener("change", function () {
      if (input.value) { check.checked = true; return; }
      check.checked = false;
      run();
    });
    if (form) {
      form.addEventListener("submit", function (event) {
        if (input.value) { return; }
        event.preventDefault();
        run().then(function (ok) { if (ok) { form.requestSubmit(); } });
      });
    }
  }

  document.querySelectorAll(".captcha[data-challenge-url]").forEach(setup);
})();
