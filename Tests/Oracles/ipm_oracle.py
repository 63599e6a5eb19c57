"""IPM clearing files as cardutil reads and writes them: the oracle for Passway's IPM
codec (Sources/Clearing). One JSON object per line on stdout.

    ipm_oracle.py cp500                      the code page 500 table: {"cp500": [256 bytes]}
    ipm_oracle.py read FILE ENCODING BLOCKED   every record of FILE: {"MTI":…, "DE2":…, "PDS0023":…}
    ipm_oracle.py write FILE ENCODING BLOCKED  records from stdin (JSON lines of "MTI" and "DEn") written to FILE

Values are strings as the file has them (no type conversion); DE 55 is hex.
"""
import copy, json, sys
try:
    from cardutil import mciipm
    from cardutil.config import config
except ImportError as e:
    print(json.dumps({"error": f"missing oracle package: {e} (pip install cardutil)"}))
    sys.exit(0)

# Every element as the text the file carries: no int/date conversion, no PAN masking;
# the PDS processor kept (it only adds the PDSnnnn keys), DE 55 kept binary.
bit_config = copy.deepcopy(config["bit_config"])
for spec in bit_config.values():
    spec.pop("field_python_type", None)
    spec.pop("field_date_format", None)
    if spec.get("field_processor") in ("PAN", "PAN-PREFIX", "DE43"):
        spec.pop("field_processor")

def plain(record):
    out = {}
    for k, v in record.items():
        if k.startswith("TAG") or k in ("DE1", "ICC_DATA"):
            continue
        out[k] = v.hex().upper() if isinstance(v, (bytes, bytearray)) else v
    return out

mode = sys.argv[1]
if mode == "cp500":
    print(json.dumps({"cp500": list(bytes(range(256)).decode("latin-1").encode("cp500"))}))
elif mode == "read":
    path, encoding, blocked = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    with open(path, "rb") as f:
        for record in mciipm.IpmReader(f, encoding=encoding, iso_config=bit_config, blocked=blocked):
            print(json.dumps(plain(record)))
elif mode == "write":
    path, encoding, blocked = sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    with open(path, "wb") as f:
        writer = mciipm.IpmWriter(f, encoding=encoding, iso_config=bit_config, blocked=blocked)
        for line in sys.stdin:
            record = json.loads(line)
            if "DE55" in record:
                record["DE55"] = bytes.fromhex(record["DE55"])
            writer.write(record)
        writer.close()
    print(json.dumps({"written": path}))
