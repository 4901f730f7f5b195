//go:build amd64

#include "textflag.h"

// func twist8(dst, far *uint32, n int)
TEXT ·twist8(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ far+8(FP), SI
	MOVQ n+16(FP), CX
	MOVL $0x80000000, AX
	VMOVD AX, X5
	VPBROADCASTD X5, Y5   // upper mask
	MOVL $0x7fffffff, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6   // lower mask
	MOVL $0x9908b0df, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7   // matrix A
	TESTQ CX, CX
	JZ   twistdone

twistloop:
	VMOVDQU (DI), Y0      // mt[i:i+8]
	VMOVDQU 4(DI), Y1     // mt[i+1:i+9], still old
	VPAND   Y5, Y0, Y0
	VPAND   Y6, Y1, Y1
	VPOR    Y1, Y0, Y0    // y
	VPSRLD  $1, Y0, Y2    // y >> 1
	VPSLLD  $31, Y0, Y3
	VPSRAD  $31, Y3, Y3   // -(y & 1)
	VPAND   Y7, Y3, Y3
	VPXOR   (SI), Y2, Y2
	VPXOR   Y3, Y2, Y2
	VMOVDQU Y2, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	SUBQ    $8, CX
	JNZ     twistloop

twistdone:
	VZEROUPPER
	RET

// func pack8(dst []int32, src []uint32, m, mask uint32, perm *[256][8]uint32) (consumed, written int)
TEXT ·pack8(SB), NOSPLIT, $0-80
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), R8
	MOVQ src_base+24(FP), SI
	MOVQ src_len+32(FP), R9
	MOVL m+48(FP), AX
	VMOVD AX, X9
	VPBROADCASTD X9, Y9    // m
	MOVL mask+52(FP), AX
	VMOVD AX, X10
	VPBROADCASTD X10, Y10  // mask
	MOVQ perm+56(FP), R10
	MOVL $0x9d2c5680, AX
	VMOVD AX, X11
	VPBROADCASTD X11, Y11  // tempering mask B
	MOVL $0xefc60000, AX
	VMOVD AX, X12
	VPBROADCASTD X12, Y12  // tempering mask C
	SUBQ $8, R8            // last dst start with 8 slots
	SUBQ $8, R9            // last src start with 8 words
	XORQ CX, CX            // consumed
	XORQ DX, DX            // written

packloop:
	CMPQ CX, R9
	JGT  packdone
	CMPQ DX, R8
	JGT  packdone
	VMOVDQU  (SI)(CX*4), Y0
	VPSRLD   $11, Y0, Y1
	VPXOR    Y1, Y0, Y0
	VPSLLD   $7, Y0, Y1
	VPAND    Y11, Y1, Y1
	VPXOR    Y1, Y0, Y0
	VPSLLD   $15, Y0, Y1
	VPAND    Y12, Y1, Y1
	VPXOR    Y1, Y0, Y0
	VPSRLD   $18, Y0, Y1
	VPXOR    Y1, Y0, Y0
	VPAND    Y10, Y0, Y0   // v = tempered & mask
	VPCMPGTD Y9, Y0, Y1    // v > m: rejected
	VMOVMSKPS Y1, R11
	XORL     $0xff, R11    // accepted lanes
	MOVQ     R11, R12
	SHLQ     $5, R12
	VMOVDQU  (R10)(R12*1), Y2
	VPERMD   Y0, Y2, Y0    // accepted lanes first
	VMOVDQU  Y0, (DI)(DX*4)
	POPCNTL  R11, R11
	ADDQ     R11, DX
	ADDQ     $8, CX
	JMP      packloop

packdone:
	MOVQ CX, consumed+64(FP)
	MOVQ DX, written+72(FP)
	VZEROUPPER
	RET
