package e2e

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/liveplane/liveplane/internal/testinfra/kubetest"
)

const chartDir = "../deploy/helm/liveplane"

// helmBinary builds (once, cached under .cache/helm) and returns the helm
// CLI at the version scripts/helm-build pins.
var helmBinary = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("../scripts/helm-build").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", errors.New(string(ee.Stderr))
		}
		return "", err
	}
	return strings.TrimSpace(string(out)), nil
})

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	bin, err := helmBinary()
	if err != nil {
		t.Fatalf("scripts/helm-build: %v", err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), errors.New(strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// The shapes operators install: single node (defaults), scale-out on
// PostgreSQL and a NATS cluster with monitoring, and a daemon alone in a
// workload cluster.
var chartShapes = map[string][]string{
	"single": nil,
	"scale-out": {
		"--set", "serve.replicas=3",
		"--set", "serve.database.url=postgres://liveplane:pw@pg:5432/liveplane?sslmode=require",
		"--set", `serve.nats.urls=nats://nats-0:4222\,nats://nats-1:4222\,nats://nats-2:4222`,
		"--set", "serve.persistence.size=20Gi",
		"--set", "monitoring.serviceMonitor.enabled=true",
		"--set", "monitoring.prometheusRule.enabled=true",
	},
	"daemon": {
		"--set", "serve.enabled=false",
		"--set", "daemon.enabled=true",
		"--set", "daemon.cluster=eu-west-1",
		"--set", "daemon.nats.urls=nats://nats.liveplane:4222",
		"--set", "daemon.nats.token=s3cret",
	},
}

func TestChartLints(t *testing.T) {
	for name, set := range chartShapes {
		t.Run(name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", chartDir}, set...)...)
			if err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
		})
	}
}

func TestChartRefusesShapesThatCannotWork(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"--set", "serve.replicas=2"}, "needs serve.database.url"},
		{[]string{"--set", "serve.replicas=2", "--set", "serve.database.url=postgres://x/y"}, "needs serve.nats.urls"},
		{[]string{"--set", "daemon.enabled=true", "--set", "daemon.nats.urls=nats://x:4222"}, "needs daemon.cluster"},
		{[]string{"--set", "daemon.enabled=true", "--set", "daemon.cluster=c1"}, "needs daemon.nats.urls"},
		{[]string{"--set", "serve.enabled=false"}, "nothing to install"},
	} {
		_, err := helm(t, append([]string{"template", "lp", chartDir}, c.set...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("helm template %v: err = %v, want one containing %q", c.set, err, c.want)
		}
	}
}

// Every rendered object must be accepted by a real kube-apiserver
// (server-side dry run: schema, defaults, validation and RBAC rules), and
// the parts that matter in production must be there.
func TestChartInstallsOnARealAPIServer(t *testing.T) {
	kubetest.Binaries(t)
	cluster := kubetest.APIServer(t, kubetest.Etcd(t), "chart")
	cfg := cluster.RestConfig()
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	dyn := dynamic.NewForConfigOrDie(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for name, set := range chartShapes {
		t.Run(name, func(t *testing.T) {
			manifest, err := helm(t, append([]string{"template", "lp", chartDir, "--namespace", "default"}, set...)...)
			if err != nil {
				t.Fatalf("helm template: %v", err)
			}
			objs := decodeManifest(t, manifest)
			kinds := map[string]*unstructured.Unstructured{}
			for _, o := range objs {
				kinds[o.GetKind()] = o
				if o.GroupVersionKind().Group == "monitoring.coreos.com" {
					continue // Prometheus Operator CRDs are not part of a bare cluster
				}
				m, err := mapper.RESTMapping(o.GroupVersionKind().GroupKind(), o.GroupVersionKind().Version)
				if err != nil {
					t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
				}
				ri := dyn.Resource(m.Resource)
				var r dynamic.ResourceInterface = ri
				if m.Scope.Name() == "namespace" {
					r = ri.Namespace("default")
				}
				if _, err := r.Create(ctx, o, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}, FieldValidation: "Strict"}); err != nil {
					t.Errorf("apiserver refuses %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
			switch name {
			case "single", "scale-out":
				checkServe(t, kinds["StatefulSet"], name == "scale-out")
			case "daemon":
				checkDaemon(t, kinds)
			}
		})
	}
}

func checkServe(t *testing.T, sts *unstructured.Unstructured, scaleOut bool) {
	t.Helper()
	if sts == nil {
		t.Fatal("no StatefulSet for serve")
	}
	c := container(t, sts)
	if p, _, _ := unstructured.NestedString(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
		t.Errorf("readiness probe path = %q, want /readyz", p)
	}
	if v, _, _ := unstructured.NestedBool(c, "securityContext", "runAsNonRoot"); !v {
		t.Error("serve container may run as root")
	}
	if v, _, _ := unstructured.NestedBool(c, "securityContext", "readOnlyRootFilesystem"); !v {
		t.Error("serve container has a writable root filesystem")
	}
	env := map[string]bool{}
	list, _, _ := unstructured.NestedSlice(c, "env")
	for _, e := range list {
		env[e.(map[string]any)["name"].(string)] = true
	}
	if scaleOut {
		if r := replicas(sts); r != "3" {
			t.Errorf("replicas = %s, want 3", r)
		}
		if !env["LIVEPLANE_DATABASE"] || !env["LIVEPLANE_NATS"] {
			t.Errorf("scale-out serve lacks LIVEPLANE_DATABASE or LIVEPLANE_NATS: %v", env)
		}
	} else if env["LIVEPLANE_DATABASE"] || env["LIVEPLANE_NATS"] {
		t.Errorf("single-node serve points at an external database or NATS: %v", env)
	}
}

func checkDaemon(t *testing.T, kinds map[string]*unstructured.Unstructured) {
	t.Helper()
	dep := kinds["Deployment"]
	if dep == nil {
		t.Fatal("no Deployment for the daemon")
	}
	if r := replicas(dep); r != "1" {
		t.Errorf("daemon replicas = %s, want 1 (one per cluster)", r)
	}
	if _, ok := kinds["StatefulSet"]; ok {
		t.Error("serve rendered although serve.enabled=false")
	}
	role := kinds["ClusterRole"]
	if role == nil {
		t.Fatal("no ClusterRole for the daemon")
	}
	rules, _, _ := unstructured.NestedSlice(role.Object, "rules")
	var bind bool
	for _, r := range rules {
		rm := r.(map[string]any)
		if strings.Contains(strings.Join(toStrings(rm["verbs"]), ","), "bind") &&
			strings.Join(toStrings(rm["resourceNames"]), ",") == "edit" {
			bind = true
		}
	}
	if !bind {
		t.Errorf("the daemon's ClusterRole cannot bind account groups to the edit ClusterRole: %v", rules)
	}
}

func container(t *testing.T, o *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(cs) == 0 {
		t.Fatalf("%s %s has no containers", o.GetKind(), o.GetName())
	}
	return cs[0].(map[string]any)
}

// replicas reads spec.replicas whatever number type the YAML decoder chose.
func replicas(o *unstructured.Unstructured) string {
	v, _, _ := unstructured.NestedFieldNoCopy(o.Object, "spec", "replicas")
	return fmt.Sprint(v)
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}

func decodeManifest(t *testing.T, manifest string) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("decode rendered manifest: %v", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
	if len(out) == 0 {
		t.Fatal("helm template rendered nothing")
	}
	return out
}

// The container image is FROM scratch: the binary must be static, built as
// the Dockerfile builds it (CGO_ENABLED=0), with no ELF interpreter.
func TestBinaryIsStaticForTheScratchImage(t *testing.T) {
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("binary has an ELF interpreter (dynamically linked); the scratch image cannot run it")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Fatalf("binary links shared libraries %v", libs)
	}
	df, err := os.ReadFile(filepath.Join("..", "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "FROM scratch", "USER 65532:65532"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("deploy/Dockerfile lacks %q", want)
		}
	}
}
