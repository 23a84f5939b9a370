package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/chatbus/chatbus/kafkabus"
)

// busFlags name the bus secret, with which the backend signs its replies
// and events and the frontends sign sessions; every reader checks them.
type busFlags struct {
	BusSecretFile string `help:"File of the bus secret shared by every backend and frontend: one secret per line in hex (64 digits or more), the first signs, all verify (for rotation). chatbus run makes DATA_DIR/bus.secret; backend and frontend require it." name:"bus-secret-file" type:"path"`
}

// secretFileName is the bus secret chatbus run makes in its data directory.
const secretFileName = "bus.secret"

// keys reads the bus secret. With create (chatbus run), a missing file is
// made, readable by its owner only; otherwise a missing flag is an error
// that says what to do: a default secret would be known to everyone, and a
// secret drawn by each process would not be shared.
func (f busFlags) keys(dataDir string, create bool) (*kafkabus.Keys, error) {
	path := f.BusSecretFile
	if path == "" && create {
		path = filepath.Join(dataDir, secretFileName)
	}
	if path == "" {
		return nil, errors.New("--bus-secret-file (CHATBUS_BUS_SECRET_FILE) is required: the file of the secret every backend and frontend share, " +
			"with which replies, events and sessions are signed; make one with `openssl rand -hex 32 > bus.secret` (chmod 600) and give it to each of them " +
			"(chatbus run makes DATA_DIR/" + secretFileName + ")")
	}
	text, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("--bus-secret-file: %w", err)
		}
		text = []byte(kafkabus.NewSecret())
		if err := writeNew(path, text); err != nil {
			return nil, fmt.Errorf("--bus-secret-file: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("--bus-secret-file: %w", err)
	}
	keys, err := kafkabus.ParseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("--bus-secret-file %s: %w", path, err)
	}
	return keys, nil
}

// writeNew writes a file that must not exist yet, readable by its owner
// only, and syncs it.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
