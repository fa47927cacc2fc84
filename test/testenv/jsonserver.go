package testenv

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// JSONServer is an HTTP server on loopback that answers every request with the JSON body the
// test last set, as a web analysis metric's endpoint would; it counts the requests.
type JSONServer struct {
	*httptest.Server
	body     atomic.Value
	requests atomic.Int64
}

// StartJSONServer serves body until the test ends.
func StartJSONServer(t *testing.T, body string) *JSONServer {
	s := &JSONServer{}
	s.body.Store(body)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(s.body.Load().(string)))
	}))
	t.Cleanup(s.Close)
	return s
}

// SetBody changes what the server answers from now on.
func (s *JSONServer) SetBody(body string) { s.body.Store(body) }

// Requests is how many requests the server answered.
func (s *JSONServer) Requests() int64 { return s.requests.Load() }
