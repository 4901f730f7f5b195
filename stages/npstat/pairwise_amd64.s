//go:build amd64

#include "textflag.h"

// func leaf32AVX2(a []float32) float32
TEXT ·leaf32AVX2(SB), NOSPLIT, $0-28
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), CX
	VMOVUPS (SI), Y0         // r[0:8] = a[0:8]
	MOVQ CX, DX
	ANDQ $-8, DX             // n - n%8
	MOVQ $8, AX

leafloop:
	CMPQ AX, DX
	JGE  leafreduce
	VADDPS (SI)(AX*4), Y0, Y0
	ADDQ $8, AX
	JMP  leafloop

leafreduce:
	// ((r0+r1)+(r2+r3)) + ((r4+r5)+(r6+r7))
	VEXTRACTF128 $1, Y0, X1
	VHADDPS X1, X0, X0       // r0+r1, r2+r3, r4+r5, r6+r7
	VHADDPS X0, X0, X0       // (r0+r1)+(r2+r3), (r4+r5)+(r6+r7), ...
	VHADDPS X0, X0, X0       // the tree's root in lane 0

leaftail:
	CMPQ AX, CX
	JGE  leafdone
	VADDSS (SI)(AX*4), X0, X0
	INCQ AX
	JMP  leaftail

leafdone:
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET
