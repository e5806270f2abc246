#!/usr/bin/env python3
"""Static checks of everything packaging ships (run by scripts/check-manifests.sh).

Usage: check_manifests.py RENDERED_DIR RBAC_JSON

RENDERED_DIR holds the outputs of `helm template` and `kubectl kustomize`
(*.yaml); RBAC_JSON is the output of `tinyredis-operator rbac`. Checks:

  1. copies of the CRD (chart, kustomize base) equal crds/;
  2. versions: chart version/appVersion, bake and Dockerfile VERSION and the
     kustomize image tag equal the workspace crate version; the node image
     name equals the operator's default (`tinyredis:<version>`);
  3. every rendered manifest, crds/ and the non-custom objects of the
     examples pass `kubernetes-validate --strict` against Kubernetes 1.30
     and the newest version it knows. Objects of custom kinds
     (ServiceMonitor, PodMonitor, TinyRedisCluster) have no schema there and
     are skipped, by name, below;
  4. every example TinyRedisCluster is valid against the CRD's own
     openAPIV3Schema (jsonschema), and every one in examples/invalid/ is not.
     CEL rules (x-kubernetes-validations) are not evaluated by jsonschema;
  5. RBAC: the rules of each rendering are exactly API_ACCESS, with the
     Lease only in a namespaced Role of the operator's namespace;
  6. the operator Deployment has POD_NAME/POD_NAMESPACE, runs non-root;
  7. Dockerfile: what it COPYs from the context exists and is not ignored,
     the packages and binaries it builds exist in the workspace;
  8. docs/crd-reference.md is what scripts/gen_crd_reference.py generates.
"""

import copy
import fnmatch
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRD = os.path.join(ROOT, "crds", "tinyredis.io_tinyredisclusters.yaml")
CRD_COPIES = [
    "charts/tinyredis-operator/crds/tinyredis.io_tinyredisclusters.yaml",
    "deploy/base/crd/tinyredis.io_tinyredisclusters.yaml",
]
EXAMPLES = os.path.join(ROOT, "deploy", "examples")
# Kinds kubernetes-validate has no schema for (custom resources).
CUSTOM_KINDS = {"ServiceMonitor", "PodMonitor", "TinyRedisCluster"}
import kubernetes_validate.utils  # noqa: E402

# Kubernetes 1.30 and the newest version kubernetes-validate knows.
K8S_VERSIONS = ["1.30.0", kubernetes_validate.utils.latest_version()]
LEASES = ("coordination.k8s.io", "leases")

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL: {message}")


def ok(message):
    print(f"ok: {message}")


def rel(path):
    return os.path.relpath(path, ROOT)


def load_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def crate_version():
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


# 1. CRD copies ------------------------------------------------------------


def check_crd_copies():
    with open(CRD) as f:
        want = f.read()
    for copy_path in CRD_COPIES:
        with open(os.path.join(ROOT, copy_path)) as f:
            if f.read() != want:
                fail(f"{copy_path} differs from crds/; run scripts/sync-crds.sh")
            else:
                ok(f"{copy_path} equals crds/")


# 2. versions ----------------------------------------------------------------


def check_versions():
    version = crate_version()
    with open(os.path.join(ROOT, "charts/tinyredis-operator/Chart.yaml")) as f:
        chart = yaml.safe_load(f)
    for key in ("version", "appVersion"):
        if str(chart[key]) != version:
            fail(f"Chart.yaml {key} {chart[key]} != crate version {version}")
    with open(os.path.join(ROOT, "docker-bake.hcl")) as f:
        bake = f.read()
    m = re.search(r'variable "VERSION" \{\s*default = "([^"]+)"', bake)
    if not m or m.group(1) != version:
        fail(f"docker-bake.hcl VERSION default is not {version}")
    # The operator's default node image is "tinyredis:" + crate version
    # (operator/src/crd.rs DEFAULT_IMAGE); the bake tag must produce it.
    with open(os.path.join(ROOT, "operator/src/crd.rs")) as f:
        crd_rs = f.read()
    m = re.search(r'DEFAULT_IMAGE: &str = concat!\("([^"]+):", env!\("CARGO_PKG_VERSION"\)\)', crd_rs)
    if not m:
        fail("operator/src/crd.rs DEFAULT_IMAGE not found in the expected form")
    elif f'tags     = ["${{REGISTRY}}{m.group(1)}:${{VERSION}}"]' not in bake:
        fail(f"docker-bake.hcl node tag is not {m.group(1)}:${{VERSION}}")
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        dockerfile = f.read()
    for v in re.findall(r"^ARG VERSION=(\S+)", dockerfile, re.M):
        if v != version:
            fail(f"Dockerfile ARG VERSION={v} != {version}")
    kust = load_docs(os.path.join(ROOT, "deploy/base/kustomization.yaml"))[0]
    tags = [i.get("newTag") for i in kust.get("images", []) if i["name"] == "tinyredis-operator"]
    if tags != [version]:
        fail(f"deploy/base image tag {tags} != [{version}]")
    ok(f"chart, bake, Dockerfile and kustomize versions track the crate version {version}")


# 3. kubernetes-validate ---------------------------------------------------------


def check_kubernetes_validate(rendered):
    sources = [os.path.join(rendered, n) for n in sorted(os.listdir(rendered)) if n.endswith(".yaml")]
    sources.append(CRD)
    for dirpath, _, names in os.walk(EXAMPLES):
        sources += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".yaml")]
    skipped = {}
    with tempfile.TemporaryDirectory() as split:
        files = []
        for source in sources:
            for i, doc in enumerate(load_docs(source)):
                if doc.get("kind") in CUSTOM_KINDS:
                    skipped[doc["kind"]] = skipped.get(doc["kind"], 0) + 1
                    continue
                path = os.path.join(split, f"{len(files):03d}-{os.path.basename(source)}-{i}.yaml")
                with open(path, "w") as f:
                    yaml.safe_dump(doc, f)
                files.append(path)
        for version in K8S_VERSIONS:
            args = ["kubernetes-validate", "--strict", "--quiet", "-k", version]
            result = subprocess.run(args + files, capture_output=True, text=True)
            if result.returncode != 0:
                fail(f"kubernetes-validate --strict ({version}):\n{result.stdout}{result.stderr}")
            else:
                ok(f"kubernetes-validate --strict against {version}: {len(files)} objects")
    print(
        "note: not checked by kubernetes-validate (custom kinds, no schema there): "
        + ", ".join(f"{k} x{n}" for k, n in sorted(skipped.items()))
    )


# 4. examples against the CRD schema ---------------------------------------------


def to_json_schema(node):
    """OpenAPI v3 (as in a structural CRD schema) to JSON Schema.

    nullable becomes a "null" type; x-kubernetes-int-or-string an anyOf;
    objects with properties and no additionalProperties or
    x-kubernetes-preserve-unknown-fields reject unknown fields, as the API
    server does with strict field validation (kubectl's default)."""
    if isinstance(node, list):
        return [to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties"):
            out[key] = {k: to_json_schema(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = to_json_schema(value) if isinstance(value, dict) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = to_json_schema(value)
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format", "description", "default"):
            continue
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        out.get("type") == "object"
        and "properties" in out
        and "additionalProperties" not in out
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def crd_validator():
    crd = load_docs(CRD)[0]
    (version,) = crd["spec"]["versions"]
    schema = to_json_schema(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    # The API server validates metadata itself; apiVersion/kind are implicit.
    schema["properties"].update(
        {"apiVersion": {"const": f"{crd['spec']['group']}/{version['name']}"},
         "kind": {"const": crd["spec"]["names"]["kind"]},
         "metadata": {"type": "object", "required": ["name"]}}
    )
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def example_clusters(directory):
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.endswith(".yaml") and os.path.isfile(path):
            for doc in load_docs(path):
                if doc.get("kind") == "TinyRedisCluster":
                    yield rel(path), doc


def check_examples(rendered):
    validator = crd_validator()
    valid = list(example_clusters(EXAMPLES))
    # Clusters the chart's `cluster:` block renders count as valid examples.
    for name in sorted(os.listdir(rendered)):
        for doc in load_docs(os.path.join(rendered, name)):
            if doc.get("kind") == "TinyRedisCluster":
                valid.append((f"{name} (rendered)", doc))
    if len(valid) < 3:
        fail(f"expected at least 3 valid example clusters, found {len(valid)}")
    for path, doc in valid:
        errors = sorted(validator.iter_errors(doc), key=str)
        if errors:
            fail(f"{path}: rejected by the CRD schema: {errors[0].message} at {list(errors[0].path)}")
        else:
            ok(f"{path}: {doc['metadata']['name']} valid against the CRD schema")
    invalid = list(example_clusters(os.path.join(EXAMPLES, "invalid")))
    if not invalid:
        fail("no invalid examples in deploy/examples/invalid")
    for path, doc in invalid:
        errors = list(validator.iter_errors(doc))
        if not errors:
            fail(f"{path}: accepted by the CRD schema but must be rejected")
        else:
            ok(f"{path}: rejected ({errors[0].message})")
    print("note: CEL rules (x-kubernetes-validations) are not evaluated here; the API server does")


# 5. RBAC ------------------------------------------------------------------------


def expected_access(rbac_json):
    with open(rbac_json) as f:
        rows = json.load(f)
    return {(r["group"], r["resource"], v) for r in rows for v in r["verbs"]}


def rule_triples(rules):
    triples = []
    for rule in rules or []:
        if rule.get("nonResourceURLs") or rule.get("resourceNames"):
            triples.append(("?", "nonResourceURLs/resourceNames", "?"))
        for g in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                for v in rule.get("verbs", []):
                    triples.append((g, r, v))
    return triples


def rbac_problems(docs, expected):
    """What is wrong with the RBAC objects in one rendering (empty: fine)."""
    problems = []
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    if len(deployments) != 1:
        return [f"expected one Deployment, found {len(deployments)}"]
    operator_ns = deployments[0]["metadata"].get("namespace")
    sa = deployments[0]["spec"]["template"]["spec"].get("serviceAccountName")
    roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
             for d in docs if d["kind"] in ("Role", "ClusterRole")}
    bound = set()
    for b in docs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa
                   and s.get("namespace") == operator_ns for s in b.get("subjects", [])):
            problems.append(f"{b['kind']} {b['metadata']['name']} does not bind {operator_ns}/{sa}")
        ns = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
        key = (b["roleRef"]["kind"], ns, b["roleRef"]["name"])
        if key not in roles:
            problems.append(f"{b['kind']} {b['metadata']['name']} refers to missing {key}")
        bound.add(key)
    granted = []
    for key, role in roles.items():
        if key not in bound:
            problems.append(f"{key} is bound to nothing")
        for triple in rule_triples(role.get("rules")):
            granted.append(triple)
            if triple[:2] == LEASES and (key[0] != "Role" or key[1] != operator_ns):
                problems.append(f"leases granted outside the operator's namespace by {key}")
    duplicates = {t for t in granted if granted.count(t) > 1}
    if duplicates:
        problems.append(f"granted twice: {sorted(duplicates)}")
    if set(granted) - expected:
        problems.append(f"more than the operator uses: {sorted(set(granted) - expected)}")
    if expected - set(granted):
        problems.append(f"missing: {sorted(expected - set(granted))}")
    return problems


def check_rbac(rendered, rbac_json):
    expected = expected_access(rbac_json)
    if not expected or not any(t[:2] == LEASES for t in expected):
        fail("tinyredis-operator rbac printed no table or no leases")
        return
    for name in sorted(os.listdir(rendered)):
        docs = load_docs(os.path.join(rendered, name))
        if not any(d["kind"] == "Deployment" for d in docs):
            continue
        problems = rbac_problems(docs, expected)
        for p in problems:
            fail(f"{name}: RBAC: {p}")
        if not problems:
            ok(f"{name}: RBAC rules are exactly API_ACCESS ({len(expected)} resource/verb pairs)")
        # The comparison itself must catch a missing and an extra verb.
        dropped = copy.deepcopy(docs)
        extra = copy.deepcopy(docs)
        for d in dropped:
            if d["kind"] in ("Role", "ClusterRole") and d.get("rules"):
                d["rules"][0]["verbs"] = d["rules"][0]["verbs"][1:]
                break
        for d in extra:
            if d["kind"] in ("Role", "ClusterRole") and d.get("rules"):
                d["rules"][0]["verbs"] = d["rules"][0]["verbs"] + ["deletecollection"]
                break
        if not rbac_problems(dropped, expected) or not rbac_problems(extra, expected):
            fail(f"{name}: the RBAC comparison misses a changed verb")


# 6. operator Deployment --------------------------------------------------------------


def check_deployments(rendered):
    for name in sorted(os.listdir(rendered)):
        for d in load_docs(os.path.join(rendered, name)):
            if d["kind"] != "Deployment":
                continue
            pod = d["spec"]["template"]["spec"]
            (c,) = pod["containers"]
            env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
            if env.get("POD_NAME") != "metadata.name" or env.get("POD_NAMESPACE") != "metadata.namespace":
                fail(f"{name}: operator Deployment lacks POD_NAME/POD_NAMESPACE from the downward API")
            if not pod.get("securityContext", {}).get("runAsNonRoot"):
                fail(f"{name}: operator pod is not runAsNonRoot")
            if not c.get("securityContext", {}).get("readOnlyRootFilesystem"):
                fail(f"{name}: operator container root filesystem is writable")
            port = next(p["containerPort"] for p in c["ports"] if p["name"] == "metrics")
            if f"--metrics-addr=0.0.0.0:{port}" not in c.get("args", []):
                fail(f"{name}: --metrics-addr does not match the metrics port {port}")
            ok(f"{name}: operator Deployment env, security context and metrics port")


# 7. Dockerfile -------------------------------------------------------------------------


def workspace_binaries():
    """{package name: [binary names]} of the workspace members."""
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        members = tomllib.load(f)["workspace"]["members"]
    packages = {}
    for member in members:
        with open(os.path.join(ROOT, member, "Cargo.toml"), "rb") as f:
            manifest = tomllib.load(f)
        name = manifest["package"]["name"]
        bins = [b["name"] for b in manifest.get("bin", [])]
        if os.path.exists(os.path.join(ROOT, member, "src", "main.rs")) and not any(
            b.get("path", "src/main.rs") == "src/main.rs" for b in manifest.get("bin", [])
        ):
            bins.append(name)
        packages[name] = bins
    return packages


def dockerignore_allows(path):
    """Whether .dockerignore lets `path` (relative) into the build context."""
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    allowed = True
    parts = path.rstrip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(p, pat) or fnmatch.fnmatchcase(p, pat.replace("**/", "")) for p in prefixes):
            allowed = negate
    return allowed


def dockerfile_instructions(path):
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            yield word.upper(), rest.strip()


def check_dockerfile():
    path = os.path.join(ROOT, "Dockerfile")
    packages = workspace_binaries()
    built = set()
    stages = set()
    targets_user = {}
    stage = None
    for word, rest in dockerfile_instructions(path):
        if word == "FROM":
            m = re.search(r"\bAS\s+(\S+)", rest, re.I)
            stage = m.group(1) if m else None
            stages.add(stage)
        elif word == "COPY":
            args = rest.split()
            if any(a.startswith("--from=") for a in args):
                frm = next(a for a in args if a.startswith("--from="))[7:]
                if frm not in stages:
                    fail(f"Dockerfile COPY --from={frm}: no such earlier stage")
                continue
            sources = [a for a in args if not a.startswith("--")][:-1]
            for src in sources:
                if not os.path.exists(os.path.join(ROOT, src)):
                    fail(f"Dockerfile COPY {src}: not in the workspace")
                elif not dockerignore_allows(src):
                    fail(f"Dockerfile COPY {src}: excluded by .dockerignore")
        elif word == "RUN" and "cargo build" in rest:
            if "--release" not in rest or "--locked" not in rest:
                fail("Dockerfile: cargo build without --release --locked")
            pkg = re.search(r"-p (\S+)", rest).group(1)
            bin_ = re.search(r"--bin (\S+)", rest).group(1)
            if pkg not in packages:
                fail(f"Dockerfile builds package {pkg}, not in the workspace {sorted(packages)}")
            elif bin_ not in packages[pkg]:
                fail(f"Dockerfile builds --bin {bin_}, not a binary of {pkg} {packages[pkg]}")
            if f"target/release/{bin_} " not in rest + " ":
                fail(f"Dockerfile does not copy target/release/{bin_} out of the build")
            built.add(bin_)
        elif word == "USER":
            targets_user[stage] = rest
        elif word == "ENTRYPOINT":
            binary = os.path.basename(json.loads(rest)[0])
            if binary not in built:
                fail(f"Dockerfile stage {stage} runs {binary}, which no stage builds")
            if "tini" in rest:
                fail("Dockerfile uses tini")
    for target in ("node", "operator"):
        if target not in stages:
            fail(f"Dockerfile has no `{target}` target")
        elif not re.fullmatch(r"10001(:10001)?", targets_user.get(target, "")):
            fail(f"Dockerfile target {target} does not run as USER 10001")
    # Pods run `command: ["tinyredis"]`: the node image must have it on PATH.
    with open(os.path.join(ROOT, "operator/src/builders/statefulset.rs")) as f:
        if 'command: Some(vec!["tinyredis".into()])' not in f.read():
            fail("statefulset builder no longer runs `tinyredis`; update the Dockerfile check")
    if "COPY --from=build-node /out/tinyredis /usr/local/bin/tinyredis" not in open(path).read():
        fail("node image does not put tinyredis at /usr/local/bin/tinyredis")
    with open(os.path.join(ROOT, "docker-bake.hcl")) as f:
        bake = f.read()
    for target in re.findall(r'target\s+=\s+"([^"]+)"', bake):
        if target not in stages:
            fail(f"docker-bake.hcl names Dockerfile target {target}, which does not exist")
    ok(f"Dockerfile: copies exist, builds {sorted(built)} of {sorted(packages)}, runs as 10001")


# 8. CRD reference ---------------------------------------------------------------------------


def check_crd_reference():
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", "gen_crd_reference.py"), "--check"],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        fail(f"docs/crd-reference.md: {result.stdout}{result.stderr}")
    else:
        ok("docs/crd-reference.md matches the CRD schema")


def main():
    rendered, rbac_json = sys.argv[1], sys.argv[2]
    check_crd_copies()
    check_versions()
    check_kubernetes_validate(rendered)
    check_examples(rendered)
    check_rbac(rendered, rbac_json)
    check_deployments(rendered)
    check_dockerfile()
    check_crd_reference()
    if failures:
        print(f"\n{len(failures)} manifest check(s) failed")
        sys.exit(1)
    print("\nall manifest checks passed")


if __name__ == "__main__":
    main()
