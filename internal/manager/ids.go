package manager

// Sandbox ids.

import "crypto/rand"

const idAlphabet = "23456789abcdefghijkmnopqrstuvwxyz"

// newID draws an unused 8-character id and reserves it.
func (m *Manager) newID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		var b [8]byte
		rand.Read(b[:])
		id := make([]byte, 8)
		for i, x := range b {
			// 256 is not a multiple of 33: reject the tail for uniformity.
			for int(x) >= 256-256%len(idAlphabet) {
				var r [1]byte
				rand.Read(r[:])
				x = r[0]
			}
			id[i] = idAlphabet[int(x)%len(idAlphabet)]
		}
		s := string(id)
		if _, taken := m.sandboxes[s]; !taken && !m.reserved[s] {
			m.reserved[s] = true
			return s
		}
	}
}

func (m *Manager) unreserve(id string) {
	m.mu.Lock()
	delete(m.reserved, id)
	m.mu.Unlock()
}
