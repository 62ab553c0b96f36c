package demo

import (
	"bufio"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// demoCapture writes the packets on the demo's link to a pcap file (link
// type raw IP: each record is an IP packet). Without a file it does
// nothing.
type demoCapture struct {
	on     atomic.Bool // a file is open and the capture is not paused
	mu     sync.Mutex
	f      *os.File
	bw     *bufio.Writer
	pw     *pcapgo.Writer
	n      int
	err    error
	closed bool
}

func newDemoCapture(path string) (*demoCapture, error) {
	c := &demoCapture{}
	if path == "" {
		return c, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	c.f, c.bw = f, bufio.NewWriterSize(f, 1<<20)
	c.pw = pcapgo.NewWriter(c.bw)
	if err := c.pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		f.Close()
		return nil, err
	}
	c.on.Store(true)
	return c, nil
}

// active reports whether packets are being written.
func (c *demoCapture) active() bool { return c.on.Load() }

// pause stops (or resumes) writing packets, as during the throughput test.
func (c *demoCapture) pause(p bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.on.Store(c.f != nil && !c.closed && !p)
}

func (c *demoCapture) write(pkt []byte) {
	if !c.on.Load() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.err != nil {
		return
	}
	ci := gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(pkt), Length: len(pkt)}
	c.err = c.pw.WritePacket(ci, pkt)
	c.n++
}

func (c *demoCapture) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// close flushes and closes the file.
func (c *demoCapture) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil || c.closed {
		return nil
	}
	c.closed = true
	c.on.Store(false)
	err := c.err
	if ferr := c.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := c.f.Close(); err == nil {
		err = cerr
	}
	return err
}
