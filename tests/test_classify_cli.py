"""``python -m bot classify``: a real subprocess on the trained model."""

from __future__ import annotations

import json
import subprocess
import sys

from tests import samples


def test_classify_reads_json_lines_and_answers_each(settings):
    lines = [
        json.dumps({"text": samples.EMERGENCY["en"]}),
        json.dumps({"text": samples.DISCLOSURE["nl"], "language": "nl"}),
        "this is not json",
        json.dumps({"text": samples.BYSTANDER["fr"]}),
        json.dumps({"text": "hallo", "language": "de"}),
        json.dumps({"text": "I lost my passport at the airport, how do I get a new one?"}),
        json.dumps({"text": samples.OTHER_LANGUAGE}),
        json.dumps(["not", "an", "object"]),
    ]
    result = subprocess.run([sys.executable, "-m", "bot", "classify"], input="\n".join(lines) + "\n",
                            capture_output=True, text=True, cwd=settings.root, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(out) == len(lines)
    emergency, disclosure, bad, bystander, hello, lost_passport, other, bad_shape = out
    assert emergency["emergency"] and emergency["distress"] and emergency["language"] == "en"
    assert emergency["danger"] > 0.5 > hello["danger"]
    assert disclosure["intent"] == "disclose_exploitation" and disclosure["audience"] == "victim"
    assert disclosure["distress"] and not disclosure["emergency"] and disclosure["language"] == "nl"
    assert "error" in bad and "error" in bad_shape
    assert bystander["audience"] == "bystander" and bystander["language"] == "fr"
    assert not bystander["distress"]
    assert hello["language"] == "de" and hello["intent"] == "greet"
    assert not lost_passport["distress"]
    assert other["language"] == "other" and other["intent"] == "other_language"
    for record in out:
        if "error" not in record:
            assert set(record) >= {"language", "intent", "confidence", "distress", "emergency", "audience"}
            assert 0.0 <= record["confidence"] <= 1.0 and 0.0 <= record["danger"] <= 1.0
    # Nothing the person wrote leaks into the logs.
    assert "passport" not in result.stderr and "paspoort" not in result.stderr
