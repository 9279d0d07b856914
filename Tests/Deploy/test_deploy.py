"""The deploy recipes (deploy/) checked without a cluster or a container engine (make test runs
this): every manifest parses as YAML and as the Kubernetes object it says it is, the probes and
the scrape target name routes and a port the host serves, the pod's shutdown grace outlasts the
host's shutdown timeout, KEDA scales on each function's own topic and consumer group and never
past the partition count, and the Dockerfile runs the host as a non-root user that stops on
SIGTERM.

The HTTP routes (/health/live, /health/ready, /metrics on port 7071) are read from the host's
sources (Sources/FunctionHost/Operations/).

    /usr/bin/python3 -m unittest discover -s Tests/Deploy -v
"""
import glob
import json
import os
import re
import shutil
import subprocess
import unittest

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KUBERNETES = os.path.join(ROOT, "deploy", "kubernetes")
SOURCES = os.path.join(ROOT, "Sources")

# What each kind must carry, beyond apiVersion, kind and metadata.name (paths of dict keys).
REQUIRED = {
    ("apps/v1", "Deployment"): [["spec", "selector", "matchLabels"], ["spec", "template", "metadata", "labels"],
                                ["spec", "template", "spec", "containers"]],
    ("v1", "ConfigMap"): [["data"]],
    ("keda.sh/v1alpha1", "ScaledObject"): [["spec", "scaleTargetRef", "name"], ["spec", "triggers"]],
    ("monitoring.coreos.com/v1", "PodMonitor"): [["spec", "selector", "matchLabels"], ["spec", "podMetricsEndpoints"]],
    ("kustomize.config.k8s.io/v1beta1", "Kustomization"): [["resources"]],
    ("policy/v1", "PodDisruptionBudget"): [["spec", "selector", "matchLabels"]],
}
METRICS = ["swiftfunc_consumer_lag", "swiftfunc_invocations_total", "swiftfunc_dead_lettered_total",
           "swiftfunc_paused_partitions", "swiftfunc_crashes_total"]


def dig(document, path):
    for key in path:
        if not isinstance(document, dict) or key not in document:
            return None
        document = document[key]
    return document


def manifests():
    """(file name, document) for every YAML document under deploy/kubernetes."""
    found = []
    for path in sorted(glob.glob(os.path.join(KUBERNETES, "*.yaml"))):
        with open(path) as file:
            for document in yaml.safe_load_all(file):
                if document is not None:
                    found.append((os.path.basename(path), document))
    return found


def of_kind(kind):
    return [document for _, document in manifests() if document.get("kind") == kind]


def swift_sources():
    for path in glob.glob(os.path.join(SOURCES, "**", "*.swift"), recursive=True):
        with open(path, encoding="utf-8") as file:
            yield path, file.read()


def served(route):
    """Source files that name `route` as a string literal (Hummingbird's router takes it without
    the leading slash)."""
    return [path for path, text in swift_sources() if f'"{route}"' in text or f'"{route.lstrip("/")}"' in text]


def default_shutdown_timeout():
    for path, text in swift_sources():
        if path.endswith("HostConfiguration.swift"):
            match = re.search(r"shutdownTimeoutSeconds\s*(?::\s*\w+)?\s*=\s*([0-9.]+)", text)
            if match:
                return float(match.group(1))
    raise AssertionError("no shutdownTimeoutSeconds default in Sources/**/HostConfiguration.swift")


def timespan_seconds(text):
    hours, minutes, seconds = text.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def the_container():
    (deployment,) = of_kind("Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


def port_number(container, port):
    if isinstance(port, int):
        return port
    for entry in container.get("ports", []):
        if entry.get("name") == port:
            return entry["containerPort"]
    raise AssertionError(f"container {container['name']} has no port named {port!r}")


class ManifestTests(unittest.TestCase):
    def test_every_manifest_is_a_kubernetes_object(self):
        documents = manifests()
        self.assertTrue(documents, "no manifests under deploy/kubernetes")
        for name, document in documents:
            with self.subTest(file=name, kind=document.get("kind")):
                self.assertIsInstance(document.get("apiVersion"), str)
                self.assertIsInstance(document.get("kind"), str)
                if document["kind"] != "Kustomization":
                    self.assertRegex(dig(document, ["metadata", "name"]) or "", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
                required = REQUIRED.get((document["apiVersion"], document["kind"]))
                self.assertIsNotNone(required, f"{name}: unexpected {document['apiVersion']} {document['kind']}")
                for path in required:
                    self.assertIsNotNone(dig(document, path), f"{name}: {'.'.join(path)} is missing")

    def test_kustomization_lists_existing_files(self):
        (kustomization,) = of_kind("Kustomization")
        for resource in kustomization["resources"]:
            self.assertTrue(os.path.exists(os.path.join(KUBERNETES, resource)), resource)
        kubectl = shutil.which("kubectl")
        if kubectl:   # builds the objects offline (no cluster needed)
            run = subprocess.run([kubectl, "kustomize", KUBERNETES], capture_output=True, text=True, timeout=60)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertEqual({d["kind"] for d in yaml.safe_load_all(run.stdout)},
                             {"ConfigMap", "Deployment", "ScaledObject", "PodDisruptionBudget"})

    def test_deployment_is_consistent(self):
        deployment, container = the_container()
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in deployment["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(key), value, "the selector must match the pod template's labels")
        self.assertTrue(container.get("name") and container.get("image"))
        for entry in container.get("ports", []):
            self.assertIsInstance(entry["containerPort"], int)
        for probe in ("livenessProbe", "readinessProbe"):
            self.assertIn(probe, container)
            self.assertTrue(dig(container, [probe, "httpGet", "path"]).startswith("/"))
        pod = deployment["spec"]["template"]["spec"]
        self.assertTrue(pod["securityContext"]["runAsNonRoot"])
        self.assertNotEqual(pod["securityContext"].get("runAsUser"), 0)
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        if dig(container, ["securityContext", "readOnlyRootFilesystem"]):
            self.assertIn("/app/.swiftfunc", mounts, "the host writes its state under SCRIPT_ROOT/.swiftfunc")
        self.assertEqual(container["args"][:1], ["start"])
        for configmap in dig(container, ["envFrom"]) or []:
            name = configmap["configMapRef"]["name"]
            self.assertIn(name, [d["metadata"]["name"] for d in of_kind("ConfigMap")])

    def test_shutdown_grace_outlasts_the_host_shutdown_timeout(self):
        deployment, _ = the_container()
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        timeout = default_shutdown_timeout()
        with open(os.path.join(ROOT, "host.json")) as file:
            own = {k.lower(): v for k, v in json.load(file).get("swiftfunc", {}).items()}
        if "shutdowntimeout" in own:
            timeout = timespan_seconds(own["shutdowntimeout"])
        # Producers flush and the supervisor waits for its worker after the timeout: keep a margin.
        self.assertGreaterEqual(grace, timeout + 10, f"terminationGracePeriodSeconds {grace} vs shutdownTimeout {timeout} s")

    def test_keda_scales_each_function_on_its_own_group_within_the_partitions(self):
        (scaled,) = of_kind("ScaledObject")
        deployment, _ = the_container()
        spec = scaled["spec"]
        self.assertEqual(spec["scaleTargetRef"]["name"], deployment["metadata"]["name"])
        partitions = int(scaled["metadata"]["annotations"]["swiftfunc/topic-partitions"])
        self.assertLessEqual(spec["minReplicaCount"], spec["maxReplicaCount"])
        self.assertLessEqual(spec["maxReplicaCount"], partitions, "more replicas than partitions sit idle")
        triggers = {(t["metadata"]["topic"], t["metadata"]["consumerGroup"]): t for t in spec["triggers"]}
        # The broker address is written once: the app setting the functions use, which KEDA reads
        # from the scale target's container environment (bootstrapServersFromEnv).
        _, container = the_container()
        environment = {entry["name"] for entry in container.get("env", [])}
        for source in container.get("envFrom", []):
            (configmap,) = [d for d in of_kind("ConfigMap") if d["metadata"]["name"] == source["configMapRef"]["name"]]
            environment |= set(configmap.get("data", {}))
        for trigger in spec["triggers"]:
            self.assertEqual(trigger["type"], "kafka")
            metadata = trigger["metadata"]
            for key in ("bootstrapServersFromEnv", "consumerGroup", "topic", "lagThreshold"):
                self.assertIsInstance(metadata.get(key), str, f"kafka trigger metadata.{key} (KEDA wants strings)")
            self.assertNotIn("bootstrapServers", metadata, "the address is read from the environment, not repeated")
            self.assertIn(metadata["bootstrapServersFromEnv"], environment, "the container's environment must have it")
            self.assertGreater(int(metadata["lagThreshold"]), 0)
        for path in sorted(glob.glob(os.path.join(ROOT, "functions", "*", "function.json"))):
            with open(path) as file:
                bindings = json.load(file)["bindings"]
            for binding in bindings:
                if binding["type"].lower() == "kafkatrigger":
                    with self.subTest(function=os.path.basename(os.path.dirname(path))):
                        self.assertIn((binding["topic"], binding["consumerGroup"]), triggers)

    def test_keda_owns_the_replica_count(self):
        deployment, _ = the_container()
        self.assertNotIn("replicas", deployment["spec"], "kubectl apply would reset KEDA's count to it")

    def test_disruption_budget_covers_the_pods_one_at_a_time(self):
        (budget,) = of_kind("PodDisruptionBudget")
        deployment, _ = the_container()
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in budget["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(key), value, "the budget must select the app's pods")
        self.assertEqual(budget["spec"].get("maxUnavailable"), 1)
        (kustomization,) = of_kind("Kustomization")
        self.assertIn("poddisruptionbudget.yaml", kustomization["resources"])

    def test_scrape_configuration(self):
        (monitor,) = of_kind("PodMonitor")
        deployment, container = the_container()
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in monitor["spec"]["selector"]["matchLabels"].items():
            self.assertEqual(labels.get(key), value)
        for endpoint in monitor["spec"]["podMetricsEndpoints"]:
            port_number(container, endpoint["port"])
            self.assertEqual(endpoint["path"], "/metrics")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")
        self.assertEqual(int(annotations["prometheus.io/port"]), port_number(container, "http"))
        (scrape,) = [d for d in of_kind("ConfigMap") if "scrape-swiftfunc.yml" in d.get("data", {})]
        jobs = yaml.safe_load(scrape["data"]["scrape-swiftfunc.yml"])["scrape_configs"]
        self.assertEqual(jobs[0]["job_name"], "swiftfunc")


class HostRouteTests(unittest.TestCase):
    """The probes' and the scrape's routes and port, against what the host's sources serve."""

    def test_probe_paths_and_port_are_served(self):
        _, container = the_container()
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if probe not in container:
                continue
            path = dig(container, [probe, "httpGet", "path"])
            self.assertTrue(served(path), f"{probe} path {path} is not a route in Sources/")
            port = port_number(container, dig(container, [probe, "httpGet", "port"]))
            self.assertTrue([p for p, text in swift_sources() if str(port) in text],
                            f"{probe} port {port} is not the host's default port in Sources/")

    def test_metrics_route_and_names_are_served(self):
        self.assertTrue(served("/metrics"), "no /metrics route in Sources/")
        for name in METRICS:
            self.assertTrue([p for p, text in swift_sources() if name in text], f"metric {name} is not in Sources/")


class DockerfileTests(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(ROOT, "deploy", "Dockerfile")) as file:
            self.lines = [line.strip() for line in file if line.strip() and not line.lstrip().startswith("#")]

    def instructions(self, name):
        return [line.split(None, 1)[1] for line in self.lines if line.split(None, 1)[0].upper() == name]

    def test_runtime_stage_runs_as_non_root_and_stops_on_sigterm(self):
        self.assertEqual(self.instructions("STOPSIGNAL"), ["SIGTERM"])
        users = self.instructions("USER")
        self.assertTrue(users, "no USER: the host would run as root")
        self.assertNotIn(users[-1].split(":")[0], ("0", "root"))
        self.assertIn("7071", " ".join(self.instructions("EXPOSE")))
        self.assertEqual(len(self.instructions("FROM")), 3, "build, app and runtime stages")
        self.assertIn("swift:", " ".join(self.instructions("ARG")), "host and functions built with a swift image")

    def test_default_command_serves_probes_and_metrics_on_every_interface(self):
        import json
        command = json.loads(self.instructions("CMD")[-1])
        self.assertEqual(command[:1], ["start"])
        self.assertIn("--http-host", command, "the endpoint would listen on loopback only: no probe or scrape reaches it")
        self.assertEqual(command[command.index("--http-host") + 1], "0.0.0.0")
        self.assertNotIn("--port", command, "the endpoint's port is the EXPOSEd 7071")


if __name__ == "__main__":
    unittest.main()
