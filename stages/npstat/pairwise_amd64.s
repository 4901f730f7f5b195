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

// ADD4 adds the k-th group of eight of each of the four leaves.
#define ADD4(k) \
	VADDPS (k*32)(SI), Y0, Y0; \
	VADDPS (512+k*32)(SI), Y1, Y1; \
	VADDPS (1024+k*32)(SI), Y2, Y2; \
	VADDPS (1536+k*32)(SI), Y3, Y3

// ROOT stores the tree ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) of Y to off(DI).
#define ROOT(Y, X, off) \
	VEXTRACTF128 $1, Y, X4; \
	VHADDPS X4, X, X; \
	VHADDPS X, X, X; \
	VHADDPS X, X, X; \
	MOVSS X, off(DI)

// func leaves32AVX2(a, out []float32)
TEXT ·leaves32AVX2(SB), NOSPLIT, $0-48
	MOVQ a_base+0(FP), SI
	MOVQ out_base+24(FP), DI
	MOVQ out_len+32(FP), CX
	TESTQ CX, CX
	JZ   leavesdone

leavesloop:
	VMOVUPS (SI), Y0
	VMOVUPS 512(SI), Y1
	VMOVUPS 1024(SI), Y2
	VMOVUPS 1536(SI), Y3
	ADD4(1)
	ADD4(2)
	ADD4(3)
	ADD4(4)
	ADD4(5)
	ADD4(6)
	ADD4(7)
	ADD4(8)
	ADD4(9)
	ADD4(10)
	ADD4(11)
	ADD4(12)
	ADD4(13)
	ADD4(14)
	ADD4(15)
	ROOT(Y0, X0, 0)
	ROOT(Y1, X1, 4)
	ROOT(Y2, X2, 8)
	ROOT(Y3, X3, 12)
	ADDQ $2048, SI
	ADDQ $16, DI
	SUBQ $4, CX
	JNZ  leavesloop

leavesdone:
	VZEROUPPER
	RET
