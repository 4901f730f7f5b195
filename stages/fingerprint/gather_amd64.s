//go:build amd64

#include "textflag.h"

// G copies table[ix[AX+k]] to v[AX+k].
#define G(k) \
	MOVLQSX (k*4)(DX)(AX*4), R9; \
	MOVL    (SI)(R9*4), R10; \
	MOVL    R10, (k*4)(DI)(AX*4)

// func gather8(v, table []float32, ix []int32)
TEXT ·gather8(SB), NOSPLIT, $0-72
	MOVQ v_base+0(FP), DI
	MOVQ table_base+24(FP), SI
	MOVQ ix_base+48(FP), DX
	MOVQ ix_len+56(FP), CX
	XORQ AX, AX

gatherloop:
	CMPQ AX, CX
	JGE  gatherdone
	G(0)
	G(1)
	G(2)
	G(3)
	G(4)
	G(5)
	G(6)
	G(7)
	ADDQ $8, AX
	JMP  gatherloop

gatherdone:
	RET

// GC copies table[ix[AX+k]] to v[AX+k] and increments counts[ix[AX+k]].
#define GC(k) \
	MOVLQSX (k*4)(DX)(AX*4), R9; \
	MOVL    (SI)(R9*4), R10; \
	INCL    (R8)(R9*4); \
	MOVL    R10, (k*4)(DI)(AX*4)

// func gatherCount8(v, table []float32, counts, ix []int32)
TEXT ·gatherCount8(SB), NOSPLIT, $0-96
	MOVQ v_base+0(FP), DI
	MOVQ table_base+24(FP), SI
	MOVQ counts_base+48(FP), R8
	MOVQ ix_base+72(FP), DX
	MOVQ ix_len+80(FP), CX
	XORQ AX, AX

countloop:
	CMPQ AX, CX
	JGE  countdone
	GC(0)
	GC(1)
	GC(2)
	GC(3)
	GC(4)
	GC(5)
	GC(6)
	GC(7)
	ADDQ $8, AX
	JMP  countloop

countdone:
	RET
