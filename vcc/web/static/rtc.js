// WebRTC and audio helpers shared by the agent desktop and the caller page (no build step).
"use strict";

const VccRtc = (() => {
  let ctx = null;
  function audioContext() {
    if (!ctx) ctx = new AudioContext();
    if (ctx.state === "suspended") ctx.resume();
    return ctx;
  }

  // The microphone, routed through WebAudio so the page can mix in-band DTMF tones into what it sends.
  async function microphone() {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    const ac = audioContext();
    const dest = ac.createMediaStreamDestination();
    const gain = ac.createGain();
    ac.createMediaStreamSource(mic).connect(gain).connect(dest);
    return { mic, stream: dest.stream, gain, dest, ac };
  }

  // Offer -> (door) -> gateway answer. Loopback/host candidates only: gathering is awaited, no trickle.
  async function call(stream, exchange) {
    const pc = new RTCPeerConnection({ iceServers: [] });
    const remote = new MediaStream();
    pc.ontrack = (ev) => { remote.addTrack(ev.track); };
    const sender = pc.addTrack(stream.getAudioTracks()[0], stream);
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 2000);
    });
    try {
      const answer = await exchange(pc.localDescription.sdp);
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (e) {  // refused or a bad answer: nothing stays open
      pc.close();
      throw e;
    }
    return { pc, sender, remote };
  }

  // What the page hears: played on an <audio> element and analysed (dominant frequency, level).
  function listen(remote, element) {
    element.srcObject = remote;
    element.play().catch(() => {});
    const ac = audioContext();
    const analyser = ac.createAnalyser();
    analyser.fftSize = 8192;
    analyser.smoothingTimeConstant = 0.2;  // follow changes (hold, transfer) within a few frames
    ac.createMediaStreamSource(remote).connect(analyser);
    const bins = new Float32Array(analyser.frequencyBinCount);
    return {
      dominantHz() {
        analyser.getFloatFrequencyData(bins);
        let best = 0;
        for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
        return { hz: best * ac.sampleRate / analyser.fftSize, db: bins[best] };
      },
    };
  }

  const DTMF = { "1": [697, 1209], "2": [697, 1336], "3": [697, 1477], "4": [770, 1209], "5": [770, 1336],
    "6": [770, 1477], "7": [852, 1209], "8": [852, 1336], "9": [852, 1477], "*": [941, 1209], "0": [941, 1336],
    "#": [941, 1477] };

  // A key press: RFC 4733 through RTCDTMFSender when negotiated (and not forced in-band), else a
  // 120 ms dual tone mixed into the microphone (heard by the gateway's Goertzel detector).
  function pressKey(digit, sender, mic, mode) {
    const dtmf = sender && sender.dtmf;
    if (mode !== "inband" && dtmf && dtmf.canInsertDTMF) {
      dtmf.insertDTMF(digit, 120, 100);
      return "rfc4733";
    }
    const [lo, hi] = DTMF[digit];
    const t = mic.ac.currentTime;
    for (const f of [lo, hi]) {
      const osc = mic.ac.createOscillator();
      const g = mic.ac.createGain();
      osc.frequency.value = f;
      g.gain.value = 0.3;
      osc.connect(g).connect(mic.dest);
      osc.start(t);
      osc.stop(t + 0.12);
    }
    return "inband";
  }

  return { audioContext, microphone, call, listen, pressKey };
})();
