"""The console's copy of the role table (examples/gateway/console/roles.js, which decides
what the console offers and what the who-can-do-what page shows) must be the table
iam-gateway decides with, iam::default_role_table(): same roles, same capabilities, same
scope. Fails naming the first difference.

    console_role_table.py ROLE_TABLE_JSON_EXE ROLES_JS NODE"""
import json
import subprocess
import sys


def main():
    exe, roles_js, node = sys.argv[1:4]
    library = json.loads(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)["roles"]
    # roles.js imports nothing; run as a module (node would read a bare .js as CommonJS).
    with open(roles_js, encoding="utf-8") as file:
        script = file.read() + "\nprocess.stdout.write(JSON.stringify(ROLE_TABLE));\n"
    console = json.loads(subprocess.run([node, "--input-type=module", "-e", script],
                                        check=True, capture_output=True, text=True).stdout)
    failures = []
    if sorted(library) != sorted(console):
        failures.append(f"roles differ: library {sorted(library)}, console {sorted(console)}")
    for role in sorted(set(library) & set(console)):
        mine, theirs = set(library[role]["capabilities"]), set(console[role]["capabilities"])
        if mine != theirs:
            failures.append(f"{role}: only in the library {sorted(mine - theirs)}, only in the console "
                            f"{sorted(theirs - mine)}")
        if library[role]["all_workspaces"] != console[role]["allWorkspaces"]:
            failures.append(f"{role}: all_workspaces {library[role]['all_workspaces']} in the library, "
                            f"{console[role]['allWorkspaces']} in the console")
    for failure in failures:
        print("FAIL:", failure)
    if failures:
        sys.exit(1)
    print(f"ok: {len(library)} roles agree")


if __name__ == "__main__":
    main()
