"""Drive Debian's aws CLI (/usr/bin/aws) one process per call, the way a user's shell script does, and
collect what each call printed: {"rc": exit code, "out": parsed --output json stdout, "err": stderr}.
The scenario scripts next to this file import it and print one JSON object on their last line;
test/protocols/sqs/interop-cli.test.ts asserts on it. Credentials and region come from the environment."""
import json
import subprocess
import sys
import time
import traceback

AWS = '/usr/bin/aws'


class Steps:
    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.results = {}

    def aws(self, name, *args):
        """Run `aws --endpoint-url EP --output json ARGS`; record it under `name` and return the parsed output
        ({} on an empty stdout, None when it failed)."""
        p = subprocess.run([AWS, '--endpoint-url', self.endpoint, '--output', 'json', *args], capture_output=True, text=True)
        out = None
        if p.stdout.strip():
            try:
                out = json.loads(p.stdout)
            except ValueError:
                out = {'unparsed': p.stdout}
        elif p.returncode == 0:
            out = {}
        self.results[name] = {'rc': p.returncode, 'out': out, 'err': p.stderr.strip()}
        return out if p.returncode == 0 else None

    def note(self, name, value):
        self.results[name] = value
        return value


def main(scenario):
    """Run scenario(steps) and print the results as JSON, also when it raised (then with "exception")."""
    steps = Steps(sys.argv[1])
    started = time.time()
    try:
        scenario(steps)
    except Exception:  # noqa: BLE001 - reported to the test, which fails on it
        steps.results['exception'] = traceback.format_exc()
    steps.results['seconds'] = round(time.time() - started, 2)
    print(json.dumps(steps.results))
