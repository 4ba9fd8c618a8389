package proxy

import "sync"

// bufferPool recycles the 32 KiB copy buffers of httputil.ReverseProxy.
type bufferPool struct{ p *sync.Pool }

func newBufferPool() bufferPool {
	return bufferPool{p: &sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (bp bufferPool) Get() []byte  { return *(bp.p.Get().(*[]byte)) }
func (bp bufferPool) Put(b []byte) { bp.p.Put(&b) }
