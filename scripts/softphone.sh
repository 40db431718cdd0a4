#!/usr/bin/env bash
# A demo softphone on this machine, headless (no sound card): baresip on a loopback port.
#
#   bash scripts/softphone.sh secretary        # the demo practice's secretaries' line:
#                                              # sip:secretariat@127.0.0.1:5070, answers
#                                              # every call at once
#   bash scripts/softphone.sh patient [NUMBER] # a patient's phone (caller ID NUMBER,
#                                              # default +33639980001), then type
#                                              # /dial sip:+33199000000@127.0.0.1:5060
#
# Its microphone is a WAV file (say=FILE.wav to choose one; default: the secretary says a
# sentence synthesised with espeak-ng, the patient is silent; 15 minutes long, because
# baresip ends a call when its microphone file ends); what it hears is written
# as WAV files under var/softphones/<role>/ (sndfile). Keys typed in this terminal during
# a call are sent as DTMF; /hangup hangs up; /quit (or Ctrl-C) quits. Other arguments go
# to baresip (e.g. -t 600: quit after 600 s); SOFTPHONE_PORT=... listens elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
role=${1:-}
shift || true
case "$role" in
  secretary) port=5070; rtp=10300; user=secretariat; extra=";answermode=auto" ;;
  patient) port=5072; rtp=10400; user=+33639980001; extra=""
           if [ -n "${1:-}" ] && [ "${1#-}" = "$1" ]; then user=$1; shift; fi ;;
  *) echo "usage: bash scripts/softphone.sh secretary | patient [NUMBER]" >&2; exit 2 ;;
esac
port=${SOFTPHONE_PORT:-$port}  # another port (tests); the practice's line must match
rtp=${SOFTPHONE_RTP:-$rtp}
command -v baresip >/dev/null || { echo "baresip is not installed: run bash scripts/setup.sh" >&2; exit 2; }
data=${TELESEC_DATA_DIR:-var}
case "$data" in /*) ;; *) data="$(pwd)/$data" ;; esac
dir="$data/softphones/$role"
mkdir -p "$dir"
microphone=${say:-}
if [ -z "$microphone" ]; then
  microphone="$dir/microphone.wav"
  if [ "$role" = secretary ] && command -v espeak-ng >/dev/null && command -v sox >/dev/null; then
    espeak-ng -v fr -s 150 -w "$dir/said.wav" \
      "Secrétariat du cabinet médical des Tilleuls, bonjour. Je vous écoute." 2>/dev/null
    sox "$dir/said.wav" -r 8000 -c 1 -b 16 "$microphone" pad 0 900 2>/dev/null
  else
    sox -n -r 8000 -c 1 -b 16 "$microphone" trim 0.0 900 2>/dev/null
  fi
fi
sed -e "s|@PORT@|$port|" -e "s|@RTP_FIRST@|$rtp|" -e "s|@RTP_LAST@|$((rtp + 40))|" \
    -e "s|@MICROPHONE@|$microphone|" -e "s|@DIR@|$dir|" \
    scripts/softphones/config.template > "$dir/config"
echo "<sip:$user@127.0.0.1:$port>;regint=0$extra" > "$dir/accounts"
: > "$dir/contacts"
echo "softphone '$role' listening on sip:$user@127.0.0.1:$port (what it hears: $dir/*.wav)"
exec baresip -f "$dir" "$@"  # e.g. -t SECONDS
