//go:build amd64

#include "textflag.h"

// TWIST8 regenerates the eight words at DI from DI+4 (still old) and the
// far words at SI, and advances both pointers.
#define TWIST8 \
	VMOVDQU (DI), Y0; \
	VMOVDQU 4(DI), Y1; \
	VPAND   Y5, Y0, Y0; \
	VPAND   Y6, Y1, Y1; \
	VPOR    Y1, Y0, Y0; \
	VPSRLD  $1, Y0, Y2; \
	VPSLLD  $31, Y0, Y3; \
	VPSRAD  $31, Y3, Y3; \
	VPAND   Y7, Y3, Y3; \
	VPXOR   (SI), Y2, Y2; \
	VPXOR   Y3, Y2, Y2; \
	VMOVDQU Y2, (DI); \
	ADDQ    $32, DI; \
	ADDQ    $32, SI

// TWIST1 regenerates word i of the state at R8 from word next and the far
// word far.
#define TWIST1(i, next, far) \
	MOVL (i*4)(R8), AX; \
	ANDL $0x80000000, AX; \
	MOVL (next*4)(R8), BX; \
	ANDL $0x7fffffff, BX; \
	ORL  BX, AX; \
	MOVL AX, BX; \
	SHRL $1, BX; \
	ANDL $1, AX; \
	NEGL AX; \
	ANDL $0x9908b0df, AX; \
	XORL BX, AX; \
	XORL (far*4)(R8), AX; \
	MOVL AX, (i*4)(R8)

// func twistAVX2(mt *[624]uint32)
TEXT ·twistAVX2(SB), NOSPLIT, $0-8
	MOVQ mt+0(FP), R8
	MOVL $0x80000000, AX
	VMOVD AX, X5
	VPBROADCASTD X5, Y5   // upper mask
	MOVL $0x7fffffff, AX
	VMOVD AX, X6
	VPBROADCASTD X6, Y6   // lower mask
	MOVL $0x9908b0df, AX
	VMOVD AX, X7
	VPBROADCASTD X7, Y7   // matrix A

	// Words 0..223 read the old words 397 places on.
	MOVQ R8, DI
	LEAQ (397*4)(R8), SI
	MOVQ $28, CX

twistlo:
	TWIST8
	DECQ CX
	JNZ  twistlo

	TWIST1(224, 225, 621)
	TWIST1(225, 226, 622)
	TWIST1(226, 227, 623)

	// Words 227..618 read the words regenerated 227 places before.
	LEAQ (227*4)(R8), DI
	MOVQ R8, SI
	MOVQ $49, CX

twisthi:
	TWIST8
	DECQ CX
	JNZ  twisthi

	TWIST1(619, 620, 392)
	TWIST1(620, 621, 393)
	TWIST1(621, 622, 394)
	TWIST1(622, 623, 395)
	TWIST1(623, 0, 396)
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
	XORQ CX, CX            // consumed
	XORQ DX, DX            // written

packouter:
	// Run g = min(words left, slots left) / 8 groups without checks:
	// each writes at most eight indices, so eight slots remain before
	// every one of them.
	MOVQ R9, R13
	SUBQ CX, R13
	MOVQ R8, BX
	SUBQ DX, BX
	CMPQ BX, R13
	CMOVQLT BX, R13
	SHRQ $3, R13
	JZ   packdone

packloop:
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
	DECQ     R13
	JNZ      packloop
	JMP      packouter

packdone:
	MOVQ CX, consumed+64(FP)
	MOVQ DX, written+72(FP)
	VZEROUPPER
	RET
