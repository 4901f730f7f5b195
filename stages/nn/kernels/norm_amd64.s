//go:build amd64

#include "textflag.h"

// func sumSq32(v *float32, n int, shift float64) (s, q float64)
//
// s = Σ (v[i] − shift), q = Σ (v[i] − shift)² over i < n (a multiple of 16),
// in float64: sixteen lanes, each summed in order, then added in a fixed tree.
TEXT ·sumSq32(SB), NOSPLIT, $0-40
	MOVQ         v+0(FP), SI
	MOVQ         n+8(FP), CX
	VBROADCASTSD shift+16(FP), Y15
	VXORPD       Y0, Y0, Y0
	VXORPD       Y1, Y1, Y1
	VXORPD       Y2, Y2, Y2
	VXORPD       Y3, Y3, Y3
	VXORPD       Y4, Y4, Y4
	VXORPD       Y5, Y5, Y5
	VXORPD       Y6, Y6, Y6
	VXORPD       Y7, Y7, Y7
	SHRQ         $4, CX
	JEQ          sqdone

sqloop:
	VCVTPS2PD   (SI), Y8
	VCVTPS2PD   16(SI), Y9
	VCVTPS2PD   32(SI), Y10
	VCVTPS2PD   48(SI), Y11
	VSUBPD      Y15, Y8, Y8
	VSUBPD      Y15, Y9, Y9
	VSUBPD      Y15, Y10, Y10
	VSUBPD      Y15, Y11, Y11
	VADDPD      Y8, Y0, Y0
	VADDPD      Y9, Y1, Y1
	VADDPD      Y10, Y2, Y2
	VADDPD      Y11, Y3, Y3
	VFMADD231PD Y8, Y8, Y4
	VFMADD231PD Y9, Y9, Y5
	VFMADD231PD Y10, Y10, Y6
	VFMADD231PD Y11, Y11, Y7
	ADDQ        $64, SI
	DECQ        CX
	JNZ         sqloop

sqdone:
	VADDPD       Y1, Y0, Y0
	VADDPD       Y3, Y2, Y2
	VADDPD       Y2, Y0, Y0
	VADDPD       Y5, Y4, Y4
	VADDPD       Y7, Y6, Y6
	VADDPD       Y6, Y4, Y4
	VEXTRACTF128 $1, Y0, X1
	VADDPD       X1, X0, X0
	VUNPCKHPD    X0, X0, X1
	VADDSD       X1, X0, X0
	VEXTRACTF128 $1, Y4, X5
	VADDPD       X5, X4, X4
	VUNPCKHPD    X4, X4, X5
	VADDSD       X5, X4, X4
	VMOVSD       X0, s+24(FP)
	VMOVSD       X4, q+32(FP)
	VZEROUPPER
	RET

// func normAct32(x, y *float32, n int, mean, scale, beta, slope float32)
//
// y[i] = t·(1 if t > 0, else slope) with t = (x[i] − mean)·scale + beta, each
// operation rounded to float32, for i < n (a multiple of 8).
TEXT ·normAct32(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         y+8(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mean+24(FP), Y12
	VBROADCASTSS scale+28(FP), Y13
	VBROADCASTSS beta+32(FP), Y14
	VBROADCASTSS slope+36(FP), Y15
	VXORPS       Y10, Y10, Y10
	SHRQ         $3, CX
	JEQ          nadone

naloop:
	VMOVUPS   (SI), Y0
	VSUBPS    Y12, Y0, Y0
	VMULPS    Y13, Y0, Y0
	VADDPS    Y14, Y0, Y0
	VCMPPS    $0x1e, Y10, Y0, Y1
	VMULPS    Y15, Y0, Y2
	VBLENDVPS Y1, Y0, Y2, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $32, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       naloop

nadone:
	VZEROUPPER
	RET

// func normGradSums32(x, dy, dx *float32, n int, mean, scale, beta, slope float32, m float64) (a, b float64)
//
// For i < n (a multiple of 8): dx[i] = dy[i]·(1 if t > 0, else slope) with
// t = (x[i] − mean)·scale + beta rounded as in normAct32, and, in float64,
// a = Σ dx[i], b = Σ dx[i]·(x[i] − m): eight lanes each summed in order,
// then added in a fixed tree.
TEXT ·normGradSums32(SB), NOSPLIT, $0-72
	MOVQ         x+0(FP), SI
	MOVQ         dy+8(FP), DX
	MOVQ         dx+16(FP), DI
	MOVQ         n+24(FP), CX
	VBROADCASTSS mean+32(FP), Y12
	VBROADCASTSS scale+36(FP), Y13
	VBROADCASTSS beta+40(FP), Y14
	VBROADCASTSS slope+44(FP), Y15
	VBROADCASTSD m+48(FP), Y11
	VXORPS       Y10, Y10, Y10
	VXORPD       Y6, Y6, Y6
	VXORPD       Y7, Y7, Y7
	VXORPD       Y8, Y8, Y8
	VXORPD       Y9, Y9, Y9
	SHRQ         $3, CX
	JEQ          gsdone

gsloop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y12, Y0, Y1
	VMULPS       Y13, Y1, Y1
	VADDPS       Y14, Y1, Y1
	VCMPPS       $0x1e, Y10, Y1, Y1
	VMOVUPS      (DX), Y2
	VMULPS       Y15, Y2, Y3
	VBLENDVPS    Y1, Y2, Y3, Y3
	VMOVUPS      Y3, (DI)
	VCVTPS2PD    X3, Y4
	VEXTRACTF128 $1, Y3, X3
	VCVTPS2PD    X3, Y5
	VCVTPS2PD    X0, Y1
	VEXTRACTF128 $1, Y0, X0
	VCVTPS2PD    X0, Y2
	VSUBPD       Y11, Y1, Y1
	VSUBPD       Y11, Y2, Y2
	VADDPD       Y4, Y6, Y6
	VADDPD       Y5, Y7, Y7
	VFMADD231PD  Y4, Y1, Y8
	VFMADD231PD  Y5, Y2, Y9
	ADDQ         $32, SI
	ADDQ         $32, DX
	ADDQ         $32, DI
	DECQ         CX
	JNZ          gsloop

gsdone:
	VADDPD       Y7, Y6, Y6
	VADDPD       Y9, Y8, Y8
	VEXTRACTF128 $1, Y6, X7
	VADDPD       X7, X6, X6
	VUNPCKHPD    X6, X6, X7
	VADDSD       X7, X6, X6
	VEXTRACTF128 $1, Y8, X9
	VADDPD       X9, X8, X8
	VUNPCKHPD    X8, X8, X9
	VADDSD       X9, X8, X8
	VMOVSD       X6, a+56(FP)
	VMOVSD       X8, b+64(FP)
	VZEROUPPER
	RET

// func normGrad32(x, dx *float32, n int, mean, k0, k1, k2 float32)
//
// dx[i] = k1·dx[i] − k2·(x[i] − mean) + k0 for i < n (a multiple of 8), each
// operation rounded to float32 in that order.
TEXT ·normGrad32(SB), NOSPLIT, $0-40
	MOVQ         x+0(FP), SI
	MOVQ         dx+8(FP), DI
	MOVQ         n+16(FP), CX
	VBROADCASTSS mean+24(FP), Y12
	VBROADCASTSS k0+28(FP), Y15
	VBROADCASTSS k1+32(FP), Y13
	VBROADCASTSS k2+36(FP), Y14
	SHRQ         $3, CX
	JEQ          ngdone

ngloop:
	VMOVUPS (DI), Y0
	VMULPS  Y13, Y0, Y0
	VMOVUPS (SI), Y1
	VSUBPS  Y12, Y1, Y1
	VMULPS  Y14, Y1, Y1
	VSUBPS  Y1, Y0, Y0
	VADDPS  Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     ngloop

ngdone:
	VZEROUPPER
	RET
