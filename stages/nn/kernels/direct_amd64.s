//go:build amd64

#include "textflag.h"

// func convTile4x24(x *float32, offs *int, k int, w *float32, y *float32, ystride int, acc bool)
//
// y[r*ystride+j] (+)= Σ_i w[4i+r] · x[offs[i]/4 + j] for r < 4, j < 24: a
// 4×24 tile of a product whose 24-wide operand rows start at byte offsets
// offs[i] from x. Each element is one FMA chain over i in order, starting
// from 0 or, with acc, from the tile's current value.
TEXT ·convTile4x24(SB), NOSPLIT, $0-49
	MOVQ x+0(FP), SI
	MOVQ offs+8(FP), BX
	MOVQ k+16(FP), CX
	MOVQ w+24(FP), DI
	MOVQ y+32(FP), DX
	MOVQ ystride+40(FP), R8
	SHLQ $2, R8
	MOVBLZX acc+48(FP), AX
	TESTQ AX, AX
	JEQ   zero
	MOVQ    DX, R9
	VMOVUPS (R9), Y0
	VMOVUPS 32(R9), Y1
	VMOVUPS 64(R9), Y2
	ADDQ    R8, R9
	VMOVUPS (R9), Y3
	VMOVUPS 32(R9), Y4
	VMOVUPS 64(R9), Y5
	ADDQ    R8, R9
	VMOVUPS (R9), Y6
	VMOVUPS 32(R9), Y7
	VMOVUPS 64(R9), Y8
	ADDQ    R8, R9
	VMOVUPS (R9), Y9
	VMOVUPS 32(R9), Y10
	VMOVUPS 64(R9), Y11
	JMP     start

zero:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

start:
	TESTQ CX, CX
	JEQ   store

loop:
	MOVQ         (BX), AX
	VMOVUPS      (SI)(AX*1), Y12
	VMOVUPS      32(SI)(AX*1), Y13
	VMOVUPS      64(SI)(AX*1), Y14
	VBROADCASTSS (DI), Y15
	VFMADD231PS  Y12, Y15, Y0
	VFMADD231PS  Y13, Y15, Y1
	VFMADD231PS  Y14, Y15, Y2
	VBROADCASTSS 4(DI), Y15
	VFMADD231PS  Y12, Y15, Y3
	VFMADD231PS  Y13, Y15, Y4
	VFMADD231PS  Y14, Y15, Y5
	VBROADCASTSS 8(DI), Y15
	VFMADD231PS  Y12, Y15, Y6
	VFMADD231PS  Y13, Y15, Y7
	VFMADD231PS  Y14, Y15, Y8
	VBROADCASTSS 12(DI), Y15
	VFMADD231PS  Y12, Y15, Y9
	VFMADD231PS  Y13, Y15, Y10
	VFMADD231PS  Y14, Y15, Y11
	ADDQ         $8, BX
	ADDQ         $16, DI
	DECQ         CX
	JNZ          loop

store:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	ADDQ    R8, DX
	VMOVUPS Y3, (DX)
	VMOVUPS Y4, 32(DX)
	VMOVUPS Y5, 64(DX)
	ADDQ    R8, DX
	VMOVUPS Y6, (DX)
	VMOVUPS Y7, 32(DX)
	VMOVUPS Y8, 64(DX)
	ADDQ    R8, DX
	VMOVUPS Y9, (DX)
	VMOVUPS Y10, 32(DX)
	VMOVUPS Y11, 64(DX)
	VZEROUPPER
	RET
