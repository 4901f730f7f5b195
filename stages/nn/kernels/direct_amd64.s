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

// func filterTile4x3(dy *float32, dystride int, x *float32, offs *int, n int, acc *float32)
//
// For r < 4, j < 3 and lanes l < 8: acc[(3r+j)*8+l] += Σ_{p<n}
// dy[r*dystride + 8p+l] · x[offs[j]/4 + 8p+l] (dystride in elements, offs in
// bytes): lane-wise partial sums of a weight-gradient tile, each lane one
// FMA chain over p in order.
TEXT ·filterTile4x3(SB), NOSPLIT, $0-48
	MOVQ dy+0(FP), SI
	MOVQ dystride+8(FP), R8
	SHLQ $2, R8
	MOVQ x+16(FP), DI
	MOVQ offs+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ acc+40(FP), DX
	MOVQ (BX), R10
	MOVQ 8(BX), R11
	MOVQ 16(BX), R12
	ADDQ DI, R10
	ADDQ DI, R11
	ADDQ DI, R12
	LEAQ (SI)(R8*1), R13 // dy rows 0..3: SI, R13, R9, BX
	LEAQ (SI)(R8*2), R9
	LEAQ (R9)(R8*1), BX
	VMOVUPS (DX), Y0
	VMOVUPS 32(DX), Y1
	VMOVUPS 64(DX), Y2
	VMOVUPS 96(DX), Y3
	VMOVUPS 128(DX), Y4
	VMOVUPS 160(DX), Y5
	VMOVUPS 192(DX), Y6
	VMOVUPS 224(DX), Y7
	VMOVUPS 256(DX), Y8
	VMOVUPS 288(DX), Y9
	VMOVUPS 320(DX), Y10
	VMOVUPS 352(DX), Y11
	XORQ    AX, AX
	TESTQ   CX, CX
	JEQ     done

floop:
	VMOVUPS     (R10)(AX*1), Y12
	VMOVUPS     (R11)(AX*1), Y13
	VMOVUPS     (R12)(AX*1), Y14
	VMOVUPS     (SI)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y0
	VFMADD231PS Y13, Y15, Y1
	VFMADD231PS Y14, Y15, Y2
	VMOVUPS     (R13)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y3
	VFMADD231PS Y13, Y15, Y4
	VFMADD231PS Y14, Y15, Y5
	VMOVUPS     (R9)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y6
	VFMADD231PS Y13, Y15, Y7
	VFMADD231PS Y14, Y15, Y8
	VMOVUPS     (BX)(AX*1), Y15
	VFMADD231PS Y12, Y15, Y9
	VFMADD231PS Y13, Y15, Y10
	VFMADD231PS Y14, Y15, Y11
	ADDQ        $32, AX
	DECQ        CX
	JNZ         floop

done:
	VMOVUPS Y0, (DX)
	VMOVUPS Y1, 32(DX)
	VMOVUPS Y2, 64(DX)
	VMOVUPS Y3, 96(DX)
	VMOVUPS Y4, 128(DX)
	VMOVUPS Y5, 160(DX)
	VMOVUPS Y6, 192(DX)
	VMOVUPS Y7, 224(DX)
	VMOVUPS Y8, 256(DX)
	VMOVUPS Y9, 288(DX)
	VMOVUPS Y10, 320(DX)
	VMOVUPS Y11, 352(DX)
	VZEROUPPER
	RET
