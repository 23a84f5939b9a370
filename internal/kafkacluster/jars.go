package kafkacluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Version is the Apache Kafka release that kafka/pom.xml names (and
// deploy/compose.yaml's image).
const Version = "4.1.0"

// ErrNoJava is returned (wrapped) by Jars when java or mvn is not on PATH:
// tests skip on it locally (and fail in CI).
var ErrNoJava = errors.New("java and mvn are needed to run Apache Kafka")

// Jars returns the directory of Apache Kafka's jars (the broker, the console
// tools, log4j), resolving kafka/pom.xml with Maven into a cache outside the
// repository on first use, about 30 s; later calls find them at once. The
// cache is $XDG_CACHE_HOME/chatbus/kafka-VERSION-POMHASH/lib (so a changed
// pom resolves anew); CHATBUS_KAFKA_LIB names a directory of jars to use as
// it is instead. Maven's progress goes to w (nil: discarded). Concurrent
// callers (test binaries of several packages) take turns on a lock file;
// a resolve cut short leaves no marker and is done again.
func Jars(ctx context.Context, w io.Writer) (string, error) {
	if lib := os.Getenv("CHATBUS_KAFKA_LIB"); lib != "" {
		return lib, nil
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", fmt.Errorf("%w: java is not on PATH", ErrNoJava)
	}
	pom, err := findPom()
	if err != nil {
		return "", err
	}
	data, err := os.ReadFile(pom)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		if base, err = os.UserCacheDir(); err != nil {
			return "", err
		}
	}
	dir := filepath.Join(base, "chatbus", "kafka-"+Version+"-"+hex.EncodeToString(sum[:4]))
	lib, marker := filepath.Join(dir, "lib"), filepath.Join(dir, "complete")
	if _, err := os.Stat(marker); err == nil {
		return lib, nil
	}
	if _, err := exec.LookPath("mvn"); err != nil {
		return "", fmt.Errorf("%w: mvn is not on PATH (to resolve %s into %s)", ErrNoJava, pom, lib)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	if _, err := os.Stat(marker); err == nil { // another resolved them meanwhile
		return lib, nil
	}
	if w == nil {
		w = io.Discard
	}
	tmp := lib + ".tmp"
	os.RemoveAll(tmp)
	start := time.Now()
	cmd := exec.CommandContext(ctx, "mvn", "-q", "-B", "-f", pom, "dependency:copy-dependencies", "-DoutputDirectory="+tmp)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("resolving %s with Maven: %w", pom, err)
	}
	os.RemoveAll(lib)
	if err := os.Rename(tmp, lib); err != nil {
		return "", err
	}
	if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return "", err
	}
	fmt.Fprintf(w, "kafkacluster: Apache Kafka %s's jars resolved into %s in %v\n", Version, lib, time.Since(start).Round(time.Millisecond))
	return lib, nil
}

// findPom finds kafka/pom.xml in the working directory or a parent (the
// repository's root, from any package's test).
func findPom() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "kafka", "pom.xml")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("kafka/pom.xml not found in the working directory or a parent (run from the chatbus repository, or set CHATBUS_KAFKA_LIB)")
		}
		dir = parent
	}
}
